"""Speech-to-text side by side with wyoming-faster-whisper on a corpus the project never tuned on
(issue 20), through Home Assistant's speech-to-text exchange.

    .venv/bin/python bench/asr_side_by_side.py --quick      # a subset, under 5 minutes
    .venv/bin/python bench/asr_side_by_side.py --quick --babble-seed 20 --babble-seed 1  # + babble
    .venv/bin/python bench/asr_side_by_side.py [--limit N] [--server-arg=--no-home-vocabulary]

**Corpus.** Every item of the end-of-turn corpus (``bench/turn_corpus.py``, recordings made at
bench time: piper and espeak-ng voices, half of them in sox pink or brown noise at 20 dB SNR,
hesitations, slow commands, questions; names from ``bench/turn_home.yaml``), sent as made
(subsets **quiet** and **noisy**), and two versions derived here from the same items:

- **telephone**: resampled to 8 kHz (``resample_poly``), band-limited to 300-3400 Hz (4th-order
  Butterworth, zero phase) and sent *as 8 kHz*, so each server converts it;
- **44.1 kHz stereo**: resampled up and sent as 44.1 kHz, 2 channels (the right one 1 dB lower,
  as two microphones never match).

Each utterance is the recording cut ``0.7 s`` after its true end of speech (``speech_end_s``):
Home Assistant's VAD waits that long, then sends ``audio-stop``, so the servers get the room's
own 0.7 s tail (not digital silence) and nothing after it. Plus a **non-speech** set made here,
10 s each at 16 kHz: appliance beeps over a fridge hum, a fan (brown noise with a blade
flutter), music-like chords, and TV-like babble of reversed corpus speech at a low level; every
word a server returns for them is counted (goal 0).

**Run.** Our server (``python -m wyoming_rtx``, ``bench/run.py``'s command line plus
``--home-file bench/turn_home.yaml`` so its name vocabulary is that home's) and
wyoming-faster-whisper 3.8.1 (``bench/peers.py``: its own venv, the same tiny.en folder, the
same decoding settings) are started by ``bench/servers.py``, each warmed up with one untimed
request per audio format (a committed ``bench/corpus`` command, never a measured one), then
every utterance goes to both, one request at a time, back to back, alternating which goes first,
in a seeded shuffled order (so the load drifting on this shared machine hits every subset
alike). Each request is ``bench/client.py``'s: a fresh TCP connection, ``transcribe{language:
en}``, ``audio-start``, 10 ms ``audio-chunk``s at real-time pace on absolute deadlines,
``audio-stop``; the clock is ``audio-stop`` written -> ``transcript`` read.

**Report** (markdown printed and written to ``bench/results/latest/asr_side_by_side.md``, every
transcript in ``.json``): per subset and pooled, the word error rate (``bench/wer.py``) ours /
peer / ratio and the home's **name error rate** (of the home's area and device names said, the
share missing from the transcript; ``bench/asr_names.py``'s helpers); non-speech words;
``audio-stop`` -> transcript p50 and p90 (nearest rank); issue 20's goals checked; the items
where ours made more word errors than the peer. A failed request counts as an empty transcript
(every word lost) and is listed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

if __package__ in (None, ""):  # run as a script: make ``bench`` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.asr_names import heard, names_in  # noqa: E402
from bench.client import HA_TRAILING_SILENCE_S, Audio, transcribe  # noqa: E402
from bench.figures import OURS, PEER, ROLES  # noqa: E402
from bench.peers import PEER_PINS, ModelPaths, bundled_models, ensure_peer_venv, whisper_spec  # noqa: E402
from bench.run import ours_spec, versions  # noqa: E402
from bench.servers import RunningServer, ServerSpec  # noqa: E402
from bench.stats import median, percentile, ratio  # noqa: E402
from bench.turn_corpus import RATE, Item, ensure_corpus, read_pcm  # noqa: E402
from bench.wer import normalize, word_errors  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HOME_FILE = REPO / "bench" / "turn_home.yaml"
OUT_DIR = REPO / "bench" / "results" / "latest"

HA_VAD_WAIT_S = HA_TRAILING_SILENCE_S
"""0.7 s: HA's VAD waits this long after the last word before ``audio-stop``."""
TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
HIFI_RATE = 44100
RIGHT_CHANNEL_DB = -1.0
NON_SPEECH_SECONDS = 10.0
NON_SPEECH_FLOOR_DBFS = -60.0
SETTLE_S = 0.05
"""Pause between requests, so one server's tail work does not land in the other's request."""
REQUEST_TIMEOUT_S = 60.0
TIME_LIMITS_S = {"quick": 480.0, "full": 2400.0}

QUIET, NOISY, TELEPHONE, STEREO, NON_SPEECH, ALL = (
    "quiet",
    "noisy",
    "telephone",
    "stereo44k",
    "non-speech",
    "all",
)
SPEECH_SUBSETS = (QUIET, NOISY, TELEPHONE, STEREO)
LABELS = {
    QUIET: "quiet (16 kHz mono, -60 dBFS room)",
    NOISY: "noisy (pink/brown noise, 20 dB SNR)",
    TELEPHONE: "telephone (8 kHz, 300-3400 Hz)",
    STEREO: "44.1 kHz stereo",
    ALL: "all pooled",
}
QUICK_PER_KIND = 2
"""``--quick``: per kind of item (command, hesitation, slow, question) one quiet, one noisy."""

GOAL_WER_RATIO = 0.8
GOAL_STOP_P50_S = 0.100


# --- the utterances ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """One request's audio and what was said in it."""

    name: str
    subset: str
    reference: str
    """What is said ("" for non-speech)."""
    audio: Audio
    item: str = ""
    """The corpus item it was made from ("" for non-speech)."""
    kind: str = ""


def _s16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype("<i2")


def samples_of(pcm: bytes) -> np.ndarray:
    """s16le mono PCM as float samples on the s16 scale."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def cut_after_speech(samples: np.ndarray, rate: int, speech_end_s: float) -> np.ndarray:
    """The recording up to ``HA_VAD_WAIT_S`` after its end of speech, as HA forwards it."""
    count = round((speech_end_s + HA_VAD_WAIT_S) * rate)
    if count > len(samples):
        raise ValueError(f"recording ends before {speech_end_s + HA_VAD_WAIT_S:.2f} s")
    return samples[:count]


def telephone(samples_16k: np.ndarray) -> np.ndarray:
    """8 kHz, band-limited to 300-3400 Hz (zero phase, so the end of speech stays put)."""
    down = signal.resample_poly(samples_16k, TELEPHONE_RATE, RATE)
    sos = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE, output="sos")
    return _s16(signal.sosfiltfilt(sos, down))


def stereo_44k(samples_16k: np.ndarray) -> np.ndarray:
    """44.1 kHz, 2 channels interleaved (frames x 2); the right channel 1 dB lower."""
    up = signal.resample_poly(samples_16k, HIFI_RATE // 100, RATE // 100)
    right = up * 10 ** (RIGHT_CHANNEL_DB / 20)
    return _s16(np.stack([up, right], axis=1))


def _audio(name: str, samples: np.ndarray, rate: int) -> Audio:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    return Audio(name=name, rate=rate, width=2, channels=channels, pcm=_s16(samples).tobytes())


def derive(item: Item, samples_16k: np.ndarray) -> list[Utterance]:
    """The item as HA forwards it (quiet or noisy as made), as telephone audio, as 44.1k stereo."""
    cut = cut_after_speech(samples_16k, RATE, item.speech_end_s)
    plain = QUIET if item.noise == "quiet" else NOISY
    made = (
        (plain, _audio(item.name, cut, RATE)),
        (TELEPHONE, _audio(item.name + "@8k", telephone(cut), TELEPHONE_RATE)),
        (STEREO, _audio(item.name + "@44k2", stereo_44k(cut), HIFI_RATE)),
    )
    return [
        Utterance(audio.name, subset, item.text, audio, item=item.name, kind=item.kind)
        for subset, audio in made
    ]


def _dbfs(samples: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(samples**2)))
    return samples * (32768 * 10 ** (dbfs / 20) / rms) if rms > 0 else samples


def _tones(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Appliance beeps (0.1-0.3 s at 880-2000 Hz, some in rising triples) over a 100 Hz hum."""
    out = _dbfs(np.sin(2 * np.pi * 100 * t) + 0.3 * np.sin(2 * np.pi * 200 * t), -45.0)
    at = 0.3
    while at < t[-1] - 1.0:
        freq = float(rng.choice([880.0, 1000.0, 1500.0, 2000.0]))
        for step in range(3 if rng.random() < 0.4 else 1):
            length = float(rng.uniform(0.1, 0.3))
            on = (t >= at) & (t < at + length)
            ramp = np.minimum(1.0, np.minimum(t[on] - at, at + length - t[on]) / 0.005)
            out[on] += (
                32768 * 10 ** (-20 / 20) * ramp * np.sin(2 * np.pi * freq * 1.25**step * t[on])
            )
            at += length + 0.08
        at += float(rng.uniform(0.6, 1.5))
    return out


def _fan(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brown noise (leaky-integrated white), a 12 Hz blade flutter on it, a 60 Hz motor tone."""
    white = rng.normal(0.0, 1.0, len(t))
    brown = signal.lfilter([1.0], [1.0, -0.995], white)
    brown = signal.sosfilt(signal.butter(2, 40.0, btype="highpass", fs=RATE, output="sos"), brown)
    flutter = 1.0 + 0.25 * np.sin(2 * np.pi * 12.0 * t)
    return _dbfs(brown * flutter, -30.0) + _dbfs(np.sin(2 * np.pi * 60.0 * t), -42.0)


def _chords(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A I-V-vi-IV progression (C G Am F) of plucked triads with harmonics and a bass note."""
    progression = ((60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60))
    out = np.zeros(len(t))
    beat = 1.25
    for n in range(int(t[-1] / beat) + 1):
        notes = progression[n % len(progression)]
        start = n * beat
        on = (t >= start) & (t < start + beat)
        local = t[on] - start
        envelope = np.minimum(1.0, local / 0.01) * np.exp(-local * 2.5)
        for midi in (*notes, notes[0] - 12):
            freq = 440.0 * 2 ** ((midi - 69) / 12)
            for harmonic, gain in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12)):
                phase = float(rng.uniform(0, 2 * np.pi))
                out[on] += gain * envelope * np.sin(2 * np.pi * freq * harmonic * local + phase)
    return _dbfs(out, -24.0)


def _babble(t: np.ndarray, speech: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Three talkers of reversed corpus speech over each other, low-passed like a TV's speaker,
    at -40 dBFS: speech-like sound with no words in it."""
    out = np.zeros(len(t))
    sources = [s[::-1] for s in speech if len(s)]
    if not sources:
        raise ValueError("no speech to make babble from")
    for talker in range(3):
        at = int(rng.integers(0, RATE // 2))
        order = rng.permutation(len(sources))
        k = talker
        while at < len(t):
            piece = sources[int(order[k % len(order)])]
            piece = piece[: len(t) - at]
            out[at : at + len(piece)] += piece
            at += len(piece) + int(rng.integers(RATE // 10, RATE // 3))
            k += 1
    sos = signal.butter(4, (150.0, 5000.0), btype="bandpass", fs=RATE, output="sos")
    return _dbfs(signal.sosfilt(sos, out), -40.0)


def non_speech(speech: Sequence[np.ndarray], seed: int = 20) -> list[Utterance]:
    """Four 10 s clips with no words in them, 16 kHz mono, over a -60 dBFS floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(NON_SPEECH_SECONDS * RATE)) / RATE
    clips = {
        "tones": _tones(t, rng),
        "fan": _fan(t, rng),
        "chords": _chords(t, rng),
        "tv-babble": _babble(t, speech, rng),
    }
    floor = 32768 * 10 ** (NON_SPEECH_FLOOR_DBFS / 20)
    out = []
    for name, clip in clips.items():
        mixed = clip + rng.normal(0.0, floor, len(t))
        peak = float(np.abs(mixed).max())
        if peak > 29000:  # -1 dBFS
            mixed *= 29000 / peak
        out.append(Utterance(name, NON_SPEECH, "", _audio(name, mixed, RATE)))
    return out


def quick_items(items: Sequence[Item], per_kind: int = QUICK_PER_KIND) -> list[Item]:
    """Per kind, alternately a quiet and a noisy item (the first of each not yet taken)."""
    chosen: list[Item] = []
    for kind in dict.fromkeys(i.kind for i in items):
        pools = [
            [i for i in items if i.kind == kind and i.noise == "quiet"],
            [i for i in items if i.kind == kind and i.noise != "quiet"],
        ]
        taken = 0
        while taken < per_kind and any(pools):
            pool = pools[taken % 2] or pools[(taken + 1) % 2]
            chosen.append(pool.pop(0))
            taken += 1
    return chosen


def build_corpus(folder: Path, items: Sequence[Item]) -> list[Utterance]:
    """Every item's three versions, and the non-speech clips (babble from the items' speech)."""
    utterances: list[Utterance] = []
    speech: list[np.ndarray] = []
    for item in items:
        samples = samples_of(read_pcm(folder / item.file))
        utterances += derive(item, samples)
        speech.append(samples[round(item.speech_start_s * RATE) : round(item.speech_end_s * RATE)])
    return utterances + non_speech(speech)


def extra_babble(folder: Path, items: Sequence[Item], seeds: Sequence[int]) -> list[Utterance]:
    """For each seed, the TV babble a full run's non-speech set made with that seed would hold
    (from every corpus item's speech, whatever subset is measured), as ``tv-babble@SEED``: more
    babble than the one clip, and with seed 20 the full run's own clip in a ``--quick`` run."""
    if not seeds:
        return []
    speech = []
    for item in items:
        samples = samples_of(read_pcm(folder / item.file))
        speech.append(samples[round(item.speech_start_s * RATE) : round(item.speech_end_s * RATE)])
    out = []
    for seed in seeds:
        clip = next(u for u in non_speech(speech, seed) if u.name == "tv-babble")
        name = f"tv-babble@{seed}"
        out.append(replace(clip, name=name, audio=replace(clip.audio, name=name)))
    return out


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Record:
    """One request to one server as the client saw it."""

    role: str
    utterance: str
    subset: str
    reference: str
    text: str = ""
    finish_s: float | None = None
    """audio-stop written -> transcript read (None when the request failed)."""
    error: str = ""
    first: bool = False
    """This server got the utterance before the other one."""


@dataclass
class Run:
    """Everything one run produced."""

    records: list[Record] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def home_names(path: Path = HOME_FILE) -> list[str]:
    """The home's area and device names, as ``bench/asr_names.py`` counts them."""
    from wyoming_rtx.home.home_file import FileHome

    async def load() -> list[str]:
        home = FileHome(path)
        await home.start()
        snapshot = home.snapshot
        return [a.name for a in snapshot.areas.values()] + [
            e.name for e in snapshot.entities.values()
        ]

    return asyncio.run(load())


def warm_audio() -> list[Audio]:
    """The first committed bench/corpus command in each format sent: no measured utterance is
    heard twice."""
    from bench.asr_bench import load_samples

    first = load_samples()[0].audio
    samples = samples_of(first.pcm)
    return [
        first,
        _audio("warm@8k", telephone(samples), TELEPHONE_RATE),
        _audio("warm@44k2", stereo_44k(samples), HIFI_RATE),
    ]


async def warm_up(server: RunningServer, audios: Sequence[Audio]) -> None:
    """One untimed request per audio format: models and resamplers load on first use."""
    for audio in audios:
        await transcribe(
            server.host, server.port, audio, realtime=False, trailing_silence_s=0.0, timeout=300
        )


async def one_request(server: RunningServer, role: str, u: Utterance, first: bool) -> Record:
    record = Record(role, u.name, u.subset, u.reference, first=first)
    try:
        got = await transcribe(
            server.host,
            server.port,
            u.audio,
            realtime=True,
            trailing_silence_s=0.0,
            timeout=REQUEST_TIMEOUT_S,
        )
    except Exception as err:  # noqa: BLE001 - counted and reported, never fatal
        record.error = repr(err)[:300]
    else:
        record.text, record.finish_s = got.text, got.finish_s
    return record


async def measure(servers: dict[str, RunningServer], order: Sequence[Utterance], run: Run) -> None:
    """Each utterance to both servers back to back, alternating which goes first."""
    total = len(order)
    for n, u in enumerate(order):
        roles = ROLES if n % 2 == 0 else tuple(reversed(ROLES))
        for k, role in enumerate(roles):
            r = await one_request(servers[role], role, u, first=k == 0)
            run.records.append(r)
            ms = "fail" if r.finish_s is None else f"{r.finish_s * 1000:4.0f}"
            print(
                f"  {n + 1:3}/{total} {u.subset:10} {u.name:22} {role:4} {ms} ms "
                f"{(r.error or r.text)[:60]!r}",
                flush=True,
            )
            await asyncio.sleep(SETTLE_S)


# --- the report -------------------------------------------------------------------------------


def _rows_by(records: Sequence[Record], role: str, subset: str) -> list[Record]:
    if subset == ALL:
        return [r for r in records if r.role == role and r.subset in SPEECH_SUBSETS]
    return [r for r in records if r.role == role and r.subset == subset]


def wer_table(records: Sequence[Record], names: Sequence[str]) -> list[dict[str, Any]]:
    """Per speech subset and pooled: WER and the home's name error rate, ours and the peer's."""
    rows = []
    for subset in (*SPEECH_SUBSETS, ALL):
        row: dict[str, Any] = {"subset": subset}
        for role in ROLES:
            mine = _rows_by(records, role, subset)
            errors = words = said = missed = 0
            for r in mine:
                e, n = word_errors(r.reference, r.text)
                errors, words = errors + e, words + n
                for name in names_in(r.reference, list(names)):
                    said += 1
                    missed += not heard(name, r.text)
            row[role] = {
                "utterances": len(mine),
                "words": words,
                "errors": errors,
                "wer": errors / words if words else None,
                "names_said": said,
                "names_missed": missed,
                "name_error_rate": missed / said if said else None,
                "failed": sum(1 for r in mine if r.finish_s is None),
            }
        row["wer_ratio"] = ratio(row[OURS]["wer"], row[PEER]["wer"])
        rows.append(row)
    return rows


def latency_table(records: Sequence[Record]) -> list[dict[str, Any]]:
    """audio-stop -> transcript p50 (median) and p90 (nearest rank) per subset, in seconds."""
    rows = []
    for subset in (*SPEECH_SUBSETS, ALL, NON_SPEECH):
        row: dict[str, Any] = {"subset": subset}
        for role in ROLES:
            times = [r.finish_s for r in _rows_by(records, role, subset) if r.finish_s is not None]
            row[role] = {
                "count": len(times),
                "p50": median(times) if times else None,
                "p90": percentile(times, 90) if times else None,
            }
        row["p50_ratio"] = ratio(row[OURS]["p50"], row[PEER]["p50"])
        rows.append(row)
    return rows


def non_speech_table(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Per non-speech clip: the words each server returned and its transcript."""
    clips = list(dict.fromkeys(r.utterance for r in records if r.subset == NON_SPEECH))
    rows = []
    for clip in clips:
        row: dict[str, Any] = {"clip": clip}
        for role in ROLES:
            got = [r for r in records if r.utterance == clip and r.role == role]
            row[role] = {
                "words": sum(len(normalize(r.text)) for r in got),
                "texts": [r.error or r.text for r in got],
            }
        rows.append(row)
    return rows


def goals(
    wer_rows: Sequence[dict[str, Any]],
    latency_rows: Sequence[dict[str, Any]],
    ns_rows: Sequence[dict[str, Any]],
) -> list[tuple[str, str, bool | None]]:
    """Issue 20's goals: (goal, what this run measured, met; None when not measured)."""
    wer = {row["subset"]: row for row in wer_rows}
    lat = {row["subset"]: row for row in latency_rows}
    out: list[tuple[str, str, bool | None]] = []
    pooled = wer[ALL]
    ours, peer = pooled[OURS]["wer"], pooled[PEER]["wer"]
    met = None if ours is None or peer is None else ours <= GOAL_WER_RATIO * peer
    out.append(
        (
            f"pooled WER <= {GOAL_WER_RATIO} x the peer's",
            f"{_pct(ours)} vs {_pct(peer)} (ratio {_ratio(pooled['wer_ratio'])})",
            met,
        )
    )
    for subset in (NOISY, TELEPHONE):
        ours, peer = wer[subset][OURS]["wer"], wer[subset][PEER]["wer"]
        met = None if ours is None or peer is None else ours <= peer
        out.append((f"{subset} WER no worse than the peer's", f"{_pct(ours)} vs {_pct(peer)}", met))
    words = sum(row[OURS]["words"] for row in ns_rows)
    peer_words = sum(row[PEER]["words"] for row in ns_rows)
    out.append(
        (
            "0 words from non-speech",
            f"{words} words from {len(ns_rows)} clips (peer {peer_words})",
            words == 0 if ns_rows else None,
        )
    )
    p50 = lat[ALL][OURS]["p50"]
    out.append(
        (
            f"audio-stop -> transcript p50 <= {GOAL_STOP_P50_S * 1000:.0f} ms",
            f"{_ms(p50)} ms",
            None if p50 is None else p50 <= GOAL_STOP_P50_S,
        )
    )
    return out


def worse_items(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Speech utterances where ours made more word errors than the peer, worst first."""
    by: dict[tuple[str, str], Record] = {(r.utterance, r.role): r for r in records}
    out = []
    for (name, role), r in by.items():
        if role != OURS or r.subset not in SPEECH_SUBSETS or (name, PEER) not in by:
            continue
        peer = by[(name, PEER)]
        ours_e, _ = word_errors(r.reference, r.text)
        peer_e, _ = word_errors(r.reference, peer.text)
        if ours_e > peer_e:
            out.append(
                {
                    "utterance": name,
                    "subset": r.subset,
                    "reference": r.reference,
                    "ours": r.error or r.text,
                    "peer": peer.error or peer.text,
                    "ours_errors": ours_e,
                    "peer_errors": peer_e,
                }
            )
    return sorted(out, key=lambda w: (w["peer_errors"] - w["ours_errors"], w["utterance"]))


def _said(texts: Sequence[str], width: int = 70) -> str:
    """Transcripts for a table cell: quoted, a long one cut (the JSON keeps it whole)."""
    return " / ".join(repr(t if len(t) <= width else t[:width] + "...") for t in texts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(
    header: Sequence[str],
    wer_rows: Sequence[dict[str, Any]],
    latency_rows: Sequence[dict[str, Any]],
    ns_rows: Sequence[dict[str, Any]],
    worse: Sequence[dict[str, Any]],
    show_worse: int = 12,
) -> str:
    """The markdown report."""
    lines = [*header, ""]
    lines += [
        "| subset | utterances | ref words | WER ours | WER peer | ours/peer "
        "| names missed ours | names missed peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in wer_rows:
        o, p = row[OURS], row[PEER]
        fails = f" ({o['failed']}/{p['failed']} failed)" if o["failed"] or p["failed"] else ""
        lines.append(
            f"| {LABELS[row['subset']]} | {o['utterances']}{fails} | {o['words']} "
            f"| {_pct(o['wer'])} | {_pct(p['wer'])} | {_ratio(row['wer_ratio'])} "
            f"| {o['names_missed']}/{o['names_said']} ({_pct(o['name_error_rate'])}) "
            f"| {p['names_missed']}/{p['names_said']} ({_pct(p['name_error_rate'])}) |"
        )
    lines += [
        "",
        "| audio-stop -> transcript, ms | n | p50 ours | p50 peer | ours/peer | p90 ours "
        "| p90 peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in latency_rows:
        o, p = row[OURS], row[PEER]
        label = LABELS.get(row["subset"], "non-speech, 10 s clips")
        lines.append(
            f"| {label} | {o['count']} | {_ms(o['p50'])} | {_ms(p['p50'])} "
            f"| {_ratio(row['p50_ratio'])} | {_ms(o['p90'])} | {_ms(p['p90'])} |"
        )
    lines += [
        "",
        "| non-speech clip | words ours | words peer | ours said | peer said |",
        "|---|---|---|---|---|",
    ]
    for row in ns_rows:
        o, p = row[OURS], row[PEER]
        lines.append(
            f"| {row['clip']} | {o['words']} | {p['words']} "
            f"| {_said(o['texts'])} | {_said(p['texts'])} |"
        )
    lines += ["", "Goals (issue 20):", ""]
    for goal, measured, met in goals(wer_rows, latency_rows, ns_rows):
        mark = "not measured" if met is None else ("met" if met else "NOT met")
        lines.append(f"- {goal}: {measured}: **{mark}**")
    lines += ["", f"Where ours made more word errors than the peer ({len(worse)} utterances):", ""]
    if not worse:
        lines.append("- none")
    for w in worse[:show_worse]:
        lines.append(
            f"- {w['utterance']} ({w['subset']}) {w['reference']!r}: ours "
            f"{w['ours']!r} ({w['ours_errors']}), peer {w['peer']!r} ({w['peer_errors']})"
        )
    if len(worse) > show_worse:
        lines.append(f"- ... {len(worse) - show_worse} more in asr_side_by_side.json")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_PER_KIND} items per kind (one quiet, one noisy): under 5 min",
    )
    p.add_argument("--limit", type=int, help="only the first N corpus items")
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for our server, repeatable (--server-arg=--no-home-vocabulary)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--asr-model", type=Path, help="CTranslate2 whisper folder (default tiny.en)")
    p.add_argument("--compute-type", help="default int8 on cpu, float16 on cuda")
    p.add_argument("--beam-size", type=int, help="default 1 on cpu, 5 on cuda (both servers)")
    p.add_argument("--seed", type=int, default=20, help="order of the utterances")
    p.add_argument(
        "--babble-seed",
        type=int,
        action="append",
        default=[],
        metavar="SEED",
        help="add the full run's TV babble made with this seed (20: the full run's own), "
        "repeatable",
    )
    p.add_argument("--time-limit", type=float, help="seconds (default 480 quick, 2400 full)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the .md and .json")
    return p.parse_args(argv)


def server_specs(args: argparse.Namespace, models: ModelPaths, tmp: Path) -> dict[str, ServerSpec]:
    """Ours as ``bench/run.py`` starts it plus the bench home; the peer as ``bench/peers.py``."""
    venv_python = REPO / ".venv" / "bin" / "python"
    run_args = argparse.Namespace(
        ours_python=venv_python if venv_python.exists() else Path(sys.executable),
        device=args.device,
        compute_type=args.compute_type,
        beam_size=args.beam_size,
        cpu_threads=None,
        ours_arg=["--home-file", str(HOME_FILE), *args.server_arg],
    )
    data_dir = Path(tempfile.mkdtemp(prefix="peer-whisper-", dir=tmp))
    return {
        OURS: ours_spec(run_args, models, None),
        PEER: whisper_spec(
            models,
            data_dir,
            device=args.device,
            compute_type=args.compute_type,
            beam_size=args.beam_size,
        ),
    }


async def run_servers(
    specs: dict[str, ServerSpec],
    tmp: Path,
    order: Sequence[Utterance],
    run: Run,
) -> dict[str, list[str]]:
    """Start both, warm both, measure; always stop both. Returns the exact command lines."""
    servers = {role: RunningServer(spec, tmp) for role, spec in specs.items()}
    commands: dict[str, list[str]] = {}
    try:
        started = await asyncio.gather(
            *(server.start() for server in servers.values()), return_exceptions=True
        )  # together: start-up is not measured, and it is the slowest part of --quick
        for error in started:
            if isinstance(error, BaseException):
                raise error
        for role, server in servers.items():
            commands[role] = [a.replace("{port}", str(server.port)) for a in server.spec.argv]
        warm = warm_audio()
        for server in servers.values():
            await warm_up(server, warm)
        await measure(servers, order, run)
    finally:
        for server in servers.values():
            server.stop()
    return commands


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cuda = args.device == "cuda"
    args.compute_type = args.compute_type or ("float16" if cuda else "int8")
    args.beam_size = args.beam_size or (5 if cuda else 1)
    mode = "quick" if args.quick else "full"
    models = bundled_models()
    models = ModelPaths(asr_model=args.asr_model or models.asr_model, voice=models.voice)
    ensure_peer_venv()

    folder, items = ensure_corpus()
    chosen = quick_items(items) if args.quick else list(items)
    if args.limit:
        chosen = chosen[: args.limit]
    utterances = build_corpus(folder, chosen) + extra_babble(folder, items, args.babble_seed)
    order = list(utterances)
    random.Random(args.seed).shuffle(order)
    run = Run(names=home_names())
    speech_s = sum(u.audio.seconds for u in utterances)
    print(
        f"{len(utterances)} utterances ({speech_s:.0f} s of audio each server), "
        f"{len(chosen)} corpus items from {folder.name}",
        flush=True,
    )

    tmp = Path(tempfile.mkdtemp(prefix="asr-side-by-side-"))
    specs = server_specs(args, models, tmp)
    limit = args.time_limit or TIME_LIMITS_S[mode]
    load_start, began = _load(), time.monotonic()
    started_at = datetime.now()
    commands = {role: list(spec.argv) for role, spec in specs.items()}
    note = ""
    try:
        commands = asyncio.run(asyncio.wait_for(run_servers(specs, tmp, order, run), timeout=limit))
    except TimeoutError:
        note = f"time limit of {limit:.0f} s reached: the figures are incomplete"
    except Exception as err:  # a server did not start: still report what there is
        note = f"run aborted: {err!r}"[:1500]
    elapsed = time.monotonic() - began

    versions_now = versions()
    command = shlex.join(
        ["python", "bench/asr_side_by_side.py", *(sys.argv[1:] if argv is None else argv)]
    )
    header = [
        f"# Speech-to-text side by side (issue 20): wyoming-rtx vs wyoming-faster-whisper "
        f"{PEER_PINS['wyoming-faster-whisper']}",
        "",
        f"- run: `{command}`, "
        f"{started_at:%Y-%m-%d %H:%M}, {elapsed:.0f} s; {os.cpu_count()} cores, {args.device}; "
        f"load (1/5 min) {load_start} at start, {_load()} at end",
        f"- ours ({versions_now['wyoming-rtx']}): `{shlex.join(commands[OURS])}`",
        f"- peer: `{shlex.join(commands[PEER])}`",
        f"- corpus: {len(chosen)} items of bench/turn_corpus.py ({folder.name}), each cut "
        f"{HA_VAD_WAIT_S} s after its end of speech, sent as made, as 8 kHz telephone audio and "
        f"as 44.1 kHz stereo; {sum(u.subset == NON_SPEECH for u in utterances)} non-speech "
        f"clips of {NON_SPEECH_SECONDS:.0f} s; one request at a time, real-time pace, "
        f"alternating which server goes first (order seed {args.seed})",
        f"- names: the {len(run.names)} area and device names of bench/turn_home.yaml",
    ]
    if note:
        header.append(f"- **{note}**")
    wer_rows = wer_table(run.records, run.names)
    latency_rows = latency_table(run.records)
    ns_rows = non_speech_table(run.records)
    worse = worse_items(run.records)
    markdown = render(header, wer_rows, latency_rows, ns_rows, worse)
    print()
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "asr_side_by_side.md").write_text(markdown + "\n")
    payload = {
        "header": header,
        "command": command,
        "server_commands": commands,
        "logs": str(tmp),
        "wer": wer_rows,
        "latency": latency_rows,
        "non_speech": ns_rows,
        "goals": [
            {"goal": g, "measured": m, "met": ok}
            for g, m, ok in goals(wer_rows, latency_rows, ns_rows)
        ],
        "worse": worse,
        "utterances": [
            {
                "name": u.name,
                "subset": u.subset,
                "item": u.item,
                "kind": u.kind,
                "reference": u.reference,
                "rate": u.audio.rate,
                "channels": u.audio.channels,
                "seconds": round(u.audio.seconds, 3),
            }
            for u in utterances
        ],
        "records": [asdict(r) for r in run.records],
    }
    (args.out / "asr_side_by_side.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nWritten to {args.out}/asr_side_by_side.{{md,json}}; server logs in {tmp}")
    complete = not note and all(r.finish_s is not None for r in run.records)
    return 0 if complete and run.records else 1


if __name__ == "__main__":
    sys.exit(main())
