"""TTS engine benchmark, in-process: time to first audio and total time per request.

It measures the engine alone (no socket), for a short reply and a three-sentence answer, with 1
and with 4 clients at once, with and without first-clause splitting. Use it to see what sentence
streaming, clause splitting and the parallel pool buy; the side-by-side against wyoming-piper over
the Wyoming protocol is `bench/tts_bench.py`.

    .venv/bin/python -m bench.tts_engine [--rounds 5] [--parallel 2] [--intra-threads 0]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time
from dataclasses import dataclass

from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts import TtsEngine

TEXTS = {
    "short reply": "The kitchen light is on.",
    "three sentences": (
        "The living room is at twenty one degrees, and the humidity is forty five percent. "
        "All the lights downstairs are off. The front door is locked."
    ),
}


@dataclass(frozen=True)
class Timing:
    """One request: seconds to its first SpeechAudio and to its last."""

    first: float
    total: float


async def one_request(engine: TtsEngine, text: str, split: bool, start: float) -> Timing:
    """Run one synthesis to the end, timing from the common start of its round."""
    first: float | None = None
    async for _audio in engine.synthesize(text, first_clause=split):
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return Timing(first=first if first is not None else total, total=total)


async def measure(
    engine: TtsEngine, text: str, clients: int, split: bool, rounds: int
) -> list[Timing]:
    """`rounds` rounds of `clients` simultaneous requests."""
    timings: list[Timing] = []
    for _ in range(rounds):
        start = time.perf_counter()
        timings += await asyncio.gather(
            *(one_request(engine, text, split, start) for _ in range(clients))
        )
    return timings


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the worst value for fewer than 20 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


async def main(rounds: int, parallel: int, intra_threads: int | None) -> None:
    """Load the bundled voice, then print one table row per text/clients/splitting."""
    engine = TtsEngine(TtsSettings(parallel=parallel), intra_op_threads=intra_threads)
    if intra_threads is None:
        intra_threads = max(1, len(os.sched_getaffinity(0)) // parallel)
    started = time.perf_counter()
    await engine.load()
    print(
        f"voice {engine.default_voice.name}, load+warm-up {time.perf_counter() - started:.2f} s, "
        f"pool {parallel} threads, ONNX intra-op threads {intra_threads or 'ORT default'}, "
        f"{rounds} rounds per row, load average {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"| {'text':<15} | clients | clause split | first audio median / p95 ms "
        f"| total median / p95 ms |"
    )
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    try:
        for label, text in TEXTS.items():
            for clients in (1, 4):
                for split in (False, True):
                    timings = await measure(engine, text, clients, split, rounds)
                    firsts = [t.first for t in timings]
                    totals = [t.total for t in timings]
                    print(
                        f"| {label:<15} | {clients:>7} | {'yes' if split else 'no':<12} "
                        f"| {ms(statistics.median(firsts)):>12} / {ms(p95(firsts)):<13} "
                        f"| {ms(statistics.median(totals)):>8} / {ms(p95(totals)):<10} |"
                    )
    finally:
        await engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=2, help="TtsSettings.parallel")
    parser.add_argument(
        "--intra-threads", type=int, default=None, help="0 = ONNX Runtime default (per core)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.parallel, args.intra_threads))
