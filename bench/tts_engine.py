"""TTS engine benchmark, in-process: time to first audio and total time per request.

It measures the engine alone (no socket), for a short reply and a three-sentence answer, with 1
and with 4 clients at once, with and without first-clause splitting (and, with
`--compare-threads`, ONNX Runtime's default of one intra-op thread per core against the
engine's cores-per-parallel-request cap). Configurations are interleaved round by round, so a
busy shared machine slows all of them alike. The side-by-side against wyoming-piper over the
Wyoming protocol is `bench/tts_bench.py`.

    .venv/bin/python -m bench.tts_engine [--rounds 5] [--parallel 2] [--compare-threads]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass

from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts.engine import TtsEngine

TEXTS = {
    "short reply": "The kitchen light is on.",
    "three sentences": (
        "The living room is at twenty one degrees, and the humidity is forty five percent. "
        "All the lights downstairs are off. The front door is locked."
    ),
}
CLIENTS = (1, 4)


@dataclass(frozen=True)
class Timing:
    """One request: seconds to its first SpeechAudio and to its last."""

    first: float
    total: float


@dataclass(frozen=True)
class Config:
    """One engine variant: its thread label and whether the first clause is split."""

    threads: str
    split: bool


async def one_request(engine: TtsEngine, text: str, split: bool, start: float) -> Timing:
    """Run one synthesis to the end, timing from the common start of its round."""
    first: float | None = None
    async for _audio in engine.synthesize(text, first_clause=split):
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return Timing(first=first if first is not None else total, total=total)


async def one_round(engine: TtsEngine, text: str, clients: int, split: bool) -> list[Timing]:
    """`clients` simultaneous requests for the same text."""
    start = time.perf_counter()
    return list(
        await asyncio.gather(*(one_request(engine, text, split, start) for _ in range(clients)))
    )


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the worst value for fewer than 20 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


async def main(rounds: int, parallel: int, compare_threads: bool) -> None:
    """Load the bundled voice per thread setting, then print one row per configuration."""
    settings = TtsSettings(parallel=parallel, cache_mb=0)  # measure rendering, not recall
    cap = max(1, len(os.sched_getaffinity(0)) // parallel)
    engines = {f"{cap} (engine)": TtsEngine(settings)}
    if compare_threads:
        engines["per core (ORT)"] = TtsEngine(settings, intra_op_threads=0)
    for engine in engines.values():
        await engine.load()
    configs = [Config(threads, split) for threads in engines for split in (False, True)]
    print(
        f"voice {engines[next(iter(engines))].default_voice.name}, pool {parallel}, "
        f"{rounds} rounds per row, {len(os.sched_getaffinity(0))} cores, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"| {'text':<15} | clients | {'ONNX threads':<14} | clause split "
        f"| first audio median / p95 ms | total median / p95 ms |"
    )
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    try:
        for label, text in TEXTS.items():
            for clients in CLIENTS:
                timings: dict[Config, list[Timing]] = defaultdict(list)
                for _ in range(rounds):
                    for config in configs:
                        engine = engines[config.threads]
                        timings[config] += await one_round(engine, text, clients, config.split)
                for config in configs:
                    firsts = [t.first for t in timings[config]]
                    totals = [t.total for t in timings[config]]
                    print(
                        f"| {label:<15} | {clients:>7} | {config.threads:<14} "
                        f"| {'yes' if config.split else 'no':<12} "
                        f"| {ms(statistics.median(firsts)):>12} / {ms(p95(firsts)):<13} "
                        f"| {ms(statistics.median(totals)):>8} / {ms(p95(totals)):<10} |"
                    )
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        for engine in engines.values():
            await engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=2, help="TtsSettings.parallel")
    parser.add_argument(
        "--compare-threads",
        action="store_true",
        help="also run an engine with ONNX Runtime's default intra-op threads (one per core)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.parallel, args.compare_threads))
