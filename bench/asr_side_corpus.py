"""The side-by-side speech-to-text bench's utterances (issue 20): what it sends, made from the
end-of-turn corpus (``bench/turn_corpus.py``) and from nothing.

Apart from the command (``bench/asr_side_by_side.py``), which starts the servers and times the
requests: this is signal processing on recordings (each item cut 0.7 s after its end of speech,
as Home Assistant forwards it, as 8 kHz telephone audio and as 44.1 kHz stereo; the non-speech
clips; the warm-up audio in each format), with no server to run, so it is tested on made-up
audio (``tests/bench/test_asr_side_by_side.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import signal

from bench.client import HA_TRAILING_SILENCE_S, Audio
from bench.turn_corpus import RATE, Item, read_pcm

HA_VAD_WAIT_S = HA_TRAILING_SILENCE_S
"""0.7 s: HA's VAD waits this long after the last word before ``audio-stop``."""
TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
HIFI_RATE = 44100
RIGHT_CHANNEL_DB = -1.0
NON_SPEECH_SECONDS = 10.0
NON_SPEECH_FLOOR_DBFS = -60.0

QUIET, NOISY, TELEPHONE, STEREO, NON_SPEECH = (
    "quiet",
    "noisy",
    "telephone",
    "stereo44k",
    "non-speech",
)
SPEECH_SUBSETS = (QUIET, NOISY, TELEPHONE, STEREO)
QUICK_PER_KIND = 2
"""``--quick``: per kind of item (command, hesitation, slow, question) one quiet, one noisy."""


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
