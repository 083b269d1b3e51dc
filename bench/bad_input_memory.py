"""Server memory under each bad-input case of issue 8: RSS before, peak and after.

Not a test: it prints a table for the closing note. Each case runs against one real
server on 127.0.0.1; RSS is sampled every 20 ms from a thread, so short spikes count.
Goal: growth under 20 MB per case (peak minus before). Run:

    .venv/bin/python bench/bad_input_memory.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from reliability.support import LONG_TEXT, MB, RssSampler  # noqa: E402
from server_proc import launch, stop  # noqa: E402
from wyoming.audio import AudioChunk, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.event import Event, async_write_event  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402
from wyoming_helpers import read_until  # noqa: E402

GOAL_MB = 20


async def _raw(port: int, header: bytes, junk: int = 2 * 1024 * 1024) -> str:
    """Send a lying header plus `junk` bytes of body; report how the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(header)
        try:
            for _ in range(junk // 65536):
                writer.write(b"\0" * 65536)
                await asyncio.wait_for(writer.drain(), 2)
        except (ConnectionError, TimeoutError):
            pass
        line = await asyncio.wait_for(reader.readline(), 5)
        return json.loads(line).get("type", "?") if line else "closed"
    except (ConnectionError, TimeoutError, ValueError) as err:
        return type(err).__name__
    finally:
        writer.transport.abort()


async def _audio(port: int, rate: int, width: int, channels: int, seconds: float) -> str:
    """One STT request with `seconds` of noise sent in a burst of 0.5 s chunks."""
    rng = np.random.default_rng(0)
    half = (rng.standard_normal(int(rate / 2) * channels) * 300).astype("<i2").tobytes()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            Event(type="audio-start", data={"rate": rate, "width": width, "channels": channels})
        )
        if rate <= 0:
            events = await read_until(client, "error", timeout=10)
            return events[-1].data.get("code", "error")
        for _ in range(int(seconds * 2)):
            await client.write_event(
                AudioChunk(rate=rate, width=width, channels=channels, audio=half).event()
            )
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript", "error", timeout=120)
    return events[-1].type


async def _long_synthesis(port: int) -> str:
    """20,000 characters, read for 5 s (streams sentence by sentence), then hang up."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=LONG_TEXT).event())
        chunks = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            event = await asyncio.wait_for(client.read_event(), 30)
            if event is None:
                break
            chunks += event.type == "audio-chunk"
    return f"{chunks} chunks in 5 s"


async def _non_reader(port: int) -> str:
    """Pipeline 19,800-character synthesize requests for 8 s without reading a byte."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    deadline = time.monotonic() + 8
    try:
        while time.monotonic() < deadline and sent < 5000:
            event = Synthesize(text=LONG_TEXT[:19_800]).event()
            await asyncio.wait_for(async_write_event(event, writer), 2)
            sent += 1
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.transport.abort()
    return f"{sent} requests accepted"


CASES: list[tuple[str, Callable[[int], Awaitable[str]]]] = [
    # Reference, not bad input: any decode's own working set (whisper pads to 30 s windows).
    ("(ref) 2 s audio, ordinary", lambda p: _audio(p, 16000, 2, 1, 2)),
    (
        "1 GB payload claim",
        lambda p: _raw(p, b'{"type":"audio-chunk","payload_length":1000000000}\n'),
    ),
    (
        "100 MB data block claim",
        lambda p: _raw(p, b'{"type":"describe","data_length":100000000}\n'),
    ),
    ("payload_length 1e400", lambda p: _raw(p, b'{"type":"audio-chunk","payload_length":1e400}\n')),
    ("300 s audio, one request", lambda p: _audio(p, 16000, 2, 1, 300)),
    ("rate 0", lambda p: _audio(p, 0, 2, 1, 1)),
    ("8-channel 48 kHz, 30 s", lambda p: _audio(p, 48000, 2, 8, 30)),
    ("20,000-char synthesis", _long_synthesis),
    ("non-reading client", _non_reader),
]


async def main() -> None:
    server = launch(Path(tempfile.mkdtemp(prefix="bad-input-")))
    proc = psutil.Process(server.proc.pid)
    rows: list[tuple[str, float, float, float, float, str]] = []
    try:
        # One ordinary request of each kind first, so pools and decoder buffers exist.
        await _audio(server.port, 16000, 2, 1, 2)
        await _long_synthesis(server.port)
        await asyncio.sleep(2)
        for name, case in CASES:
            with RssSampler(proc) as rss:
                outcome = await case(server.port)
                await asyncio.sleep(1)
            after = proc.memory_info().rss
            rows.append((name, rss.before / MB, rss.peak / MB, after / MB, rss.growth_mb, outcome))
            await asyncio.sleep(1)
        alive = server.proc.poll() is None
    finally:
        code = stop(server)
    print(
        f"{'case':<26} {'before MB':>9} {'peak MB':>8} {'after MB':>9} {'growth MB':>9}  "
        f"{'goal':<4}  outcome"
    )
    for name, before, peak, after, growth, outcome in rows:
        verdict = "ok" if growth < GOAL_MB else "OVER"
        print(
            f"{name:<26} {before:9.1f} {peak:8.1f} {after:9.1f} {growth:9.1f}  {verdict:<4}  "
            f"{outcome}"
        )
    print(f"server alive after all cases: {alive}; exit code {code}")


if __name__ == "__main__":
    asyncio.run(main())
