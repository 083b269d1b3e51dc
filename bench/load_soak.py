"""Load and soak figures for issue 8: 50 concurrent clients, then (when the direct
satellite pipeline exists) 1,000 pipeline turns with resident memory every 100 turns.

Not a test: prints tables for the closing note. Run:

    .venv/bin/python bench/load_soak.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import psutil  # noqa: E402
from reliability.support import MB, SHORT_TEXT, RssSampler  # noqa: E402
from server_proc import launch, stop  # noqa: E402
from wyoming_helpers import describe, normalize, read_wav, synthesize, transcribe  # noqa: E402

CLIENTS = 50
EXPECTED = "turn on the living room light"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(port: int) -> tuple[dict[str, list[float]], list[str], float]:
    """Each of 50 clients: describe, a short synthesis, a short transcription, in turn."""
    pcm, rate, width, channels = read_wav(REPO / "tests/data/living_room_light_en.wav")
    times: dict[str, list[float]] = {"describe": [], "synthesize": [], "transcribe": []}
    problems: list[str] = []

    async def client(n: int) -> None:
        try:
            started = time.monotonic()
            await describe(port, timeout=30)
            times["describe"].append(time.monotonic() - started)
            started = time.monotonic()
            speech = await synthesize(port, SHORT_TEXT)
            assert speech.pcm, "no audio"
            times["synthesize"].append(time.monotonic() - started)
            started = time.monotonic()
            result = await transcribe(port, pcm, rate, width, channels, chunk_seconds=0.2)
            assert normalize(result.text) == EXPECTED, result.text
            times["transcribe"].append(time.monotonic() - started)
        except Exception as err:  # reported in the table, not raised: a bench shows all
            problems.append(f"client {n}: {err!r}")

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return times, problems, time.monotonic() - started


async def main() -> None:
    server = launch(Path(tempfile.mkdtemp(prefix="load-soak-")))
    proc = psutil.Process(server.proc.pid)
    try:
        with RssSampler(proc) as rss:
            times, problems, wall = await load(server.port)
    finally:
        code = stop(server)
    print(f"Load: {CLIENTS} concurrent clients, each describe + synthesis + transcription")
    print(f"{'operation':<11} {'done':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for op, values in times.items():
        if values:
            print(
                f"{op:<11} {len(values):>5} {statistics.median(values):7.2f} "
                f"{_pct(values, 0.95):7.2f} {max(values):7.2f}"
            )
        else:
            print(f"{op:<11} {0:>5}")
    print(
        f"total wall {wall:.1f} s; RSS before {rss.before / MB:.0f} MB, "
        f"peak {rss.peak / MB:.0f} MB (+{rss.growth_mb:.0f}); failures {len(problems)}; "
        f"server exit code {code}"
    )
    for problem in problems[:10]:
        print("  " + problem)

    if not (REPO / "wyoming_rtx/pipeline.py").exists():
        print(
            "\nSoak: wyoming_rtx/pipeline.py does not exist yet, so the 1,000 direct "
            "pipeline turns were not run."
        )


if __name__ == "__main__":
    asyncio.run(main())
