"""Speech-to-text latency with the decoders' working memory kept (default) or released.

Not a test: it prints a table for the closing note. One real server per mode on 127.0.0.1,
`--no-speculative` so every request is decoded after `audio-stop` with whisper's full 30 s
window (the path Home Assistant's plain STT requests take when audio arrives in a burst).
Each of the recorded 16 kHz mono clips in ../shared/testdata is sent `--repeats` times; the
first pass per server is a warm-up. The two modes alternate over two rounds. Run:

    .venv/bin/python bench/memory_policy_speed.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from server_proc import launch, stop  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming_helpers import read_until  # noqa: E402

TESTDATA = REPO.parent / "shared" / "testdata"
MODES = {"kept (default)": (), "released (--release-memory)": ("--release-memory",)}


def _clips() -> list[bytes]:
    clips = []
    for path in sorted(TESTDATA.glob("*.wav")):
        with wave.open(str(path)) as wav:
            if wav.getframerate() == 16000 and wav.getnchannels() == 1:
                clips.append(wav.readframes(wav.getnframes()))
    return clips


async def _request(port: int, pcm: bytes) -> float:
    """Send a clip in a burst; seconds from audio-stop to the transcript."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for offset in range(0, len(pcm), 6400):
            chunk = pcm[offset : offset + 6400]
            await client.write_event(
                AudioChunk(rate=16000, width=2, channels=1, audio=chunk).event()
            )
        started = time.perf_counter()
        await client.write_event(AudioStop().event())
        await read_until(client, "transcript", timeout=60)
        return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    clips = _clips()
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _round in range(2):
        for mode, flags in MODES.items():
            server = launch(
                Path(tempfile.mkdtemp(prefix="memory-policy-")), "--no-speculative", *flags
            )
            try:
                measured = [
                    await _request(server.port, pcm) for _ in range(args.repeats) for pcm in clips
                ]
            finally:
                stop(server)
            times[mode] += measured[len(clips) :]
    kept = statistics.median(times["kept (default)"])
    print(f"{len(clips)} clips x {args.repeats - 1} measured repeats x 2 rounds per mode")
    print(f"{'working memory':<28} {'n':>3} {'median ms':>9} {'p95 ms':>7} {'vs kept':>7}")
    for mode, values in times.items():
        p95 = statistics.quantiles(values, n=20)[-1]
        median = statistics.median(values)
        print(
            f"{mode:<28} {len(values):>3} {median * 1000:9.0f} {p95 * 1000:7.0f} "
            f"{median / kept:6.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
