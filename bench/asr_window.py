"""Encoder window vs decode time and words, on the bundled tiny.en (why CPU uses 15 s).

    .venv/bin/python bench/asr_window.py [--windows 10 15 20 30] [--repeats 3]

faster-whisper always encodes 30 s; ``wyoming_rtx/asr/short_window.py`` encodes a shorter window
for short audio. For each window this decodes every English clip we have (the piper command
corpus, the real recordings in tests/data, the satellite fixtures) through the real
``AsrEngine`` and prints the median decode time, the word error rate against the known text,
how often the result differs from the full 30 s window's, and how many decodes fell back to
the full window. All windows run in the same process, interleaved, so machine noise hits
each alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.wer import normalize, word_errors  # noqa: E402
from wyoming_rtx.asr.engine import AsrEngine  # noqa: E402
from wyoming_rtx.settings import AsrSettings  # noqa: E402

MAX_CLIP_SECONDS = 25


def _pcm16k(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    audio = samples.reshape(-1, channels).mean(axis=1)
    if rate != 16000:
        audio = resample_poly(audio, 16000, rate)
    return np.clip(audio, -32768, 32767).astype(np.int16).tobytes()


def clips() -> list[tuple[str, str, bytes]]:
    """(name, reference text, 16 kHz PCM) for every English clip with a known text."""
    found: list[tuple[str, str, bytes]] = []
    corpus = REPO / "bench" / "corpus"
    for entry in json.loads((corpus / "corpus.json").read_text())["entries"]:
        found.append((entry["file"], entry["text"], _pcm16k(corpus / entry["file"])))
    data = REPO / "tests" / "data"
    for entry in json.loads((data / "manifest.json").read_text()):
        if entry.get("language") == "en" and entry.get("text"):
            found.append((entry["file"], entry["text"], _pcm16k(data / entry["file"])))
    fixtures = REPO / "tests" / "satellite" / "fixtures"
    for file_name, entry in json.loads((fixtures / "manifest.json").read_text()).items():
        found.append((file_name, entry["text"], _pcm16k(fixtures / file_name)))
    # Commands and questions are what the window is for; a minute-long passage always takes
    # the standard long-form path and would only add the same figure to every row.
    return [clip for clip in found if len(clip[2]) <= MAX_CLIP_SECONDS * 32000]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=float, nargs="+", default=[10.0, 15.0, 20.0, 30.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    windows = sorted(set(args.windows) | {30.0})
    engines = {w: AsrEngine(AsrSettings(device="cpu", window_seconds=w)) for w in windows}
    for engine in engines.values():
        await engine.load()
    samples = clips()
    times: dict[float, list[float]] = {w: [] for w in windows}
    errors = {w: 0 for w in windows}
    differs = {w: 0 for w in windows}
    words = 0
    for name, reference, pcm in samples:
        texts: dict[float, str] = {}
        for _ in range(args.repeats):
            for window, engine in engines.items():
                decoded = await engine.decode(pcm, "en")
                times[window].append(decoded.decode_seconds * 1000)
                texts[window] = decoded.text
        ref_words = len(normalize(reference))
        words += ref_words
        for window in windows:
            errors[window] += word_errors(reference, texts[window])[0]
            differs[window] += normalize(texts[window]) != normalize(texts[30.0])
        print(f"{name:34} " + " | ".join(f"{w:g}s: {texts[w][:38]!r}" for w in (15.0, 30.0)))
    print(f"\n{len(samples)} English clips, {words} reference words, {args.repeats} repeats")
    header = ("window s", "median ms", "p95 ms", "WER %", "differs", "fallbacks")
    print("{:>8} {:>10} {:>8} {:>6} {:>8} {:>9}".format(*header))
    for window in windows:
        ordered = sorted(times[window])
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(
            f"{window:8g} {statistics.median(ordered):10.0f} {p95:8.0f} "
            f"{100 * errors[window] / words:6.1f} {differs[window]:8d} "
            f"{engines[window].window_fallbacks:9d}"
        )
    for engine in engines.values():
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
