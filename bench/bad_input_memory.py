"""Server memory under each bad-input case of issue 8: RSS before, peak and after.

Not a test: it prints a table for the closing note. Each case runs against one real
server on 127.0.0.1; RSS is sampled every 20 ms from a thread, so short spikes count.
Goal: growth under 20 MB per case (peak minus before).

"Before" is a warm, settled server: it has first served ordinary traffic at the largest
sizes the limits allow (a 30 s utterance, a 20,000-character text, two syntheses at once),
then stood idle for `SETTLE_S` (that burst makes the idle heap reclaimer trim once) and
served one more ordinary request of each kind. So the decoders' working sets exist, and the
table shows what a bad input costs *beyond* what ordinary use already needs. Those ordinary
working sets are printed too (the warm-up lines and the "(ref)" rows). Run:

    .venv/bin/python bench/bad_input_memory.py                    # the table
    .venv/bin/python bench/bad_input_memory.py --release-memory   # give decoder memory back
    .venv/bin/python bench/bad_input_memory.py "non-reading"      # one case, three times
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
    return f"{await _read_synthesis(port, LONG_TEXT)} chunks in 5 s"


async def _run_on_synthesis(port: int) -> str:
    """20,000 characters with one full stop near the end: one "sentence" of 19,990."""
    words = " ".join(f"lamp {n % 97} and" for n in range(3000))[: 20_000 - 12] + ". All done."
    return f"{await _read_synthesis(port, words)} chunks in 5 s"


LONGEST_SENTENCES = " ".join(
    f"In room number {n} the ceiling lamp, the reading lamp, the fan and the heater are "
    f"all switched on, and the window blinds are halfway down for the afternoon sun."
    for n in range(100, 200)
)
"""Ordinary text at the TTS segment limit: every sentence is 150-160 characters long."""


async def _read_synthesis(port: int, text: str, seconds: float = 5) -> int:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=text).event())
        chunks = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            event = await asyncio.wait_for(client.read_event(), 30)
            if event is None:
                break
            chunks += event.type == "audio-chunk"
    return chunks


async def _one_synthesis(port: int) -> str:
    """One ordinary synthesis, sentences at the length limit."""
    return f"{await _read_synthesis(port, LONGEST_SENTENCES, 8)} chunks in 8 s"


async def _two_syntheses(port: int) -> str:
    """Two ordinary syntheses at once (two rooms answering), sentences at the length limit."""
    counts = await asyncio.gather(
        _read_synthesis(port, LONGEST_SENTENCES, 8), _read_synthesis(port, LONGEST_SENTENCES, 8)
    )
    return " + ".join(f"{count} chunks in 8 s" for count in counts)


async def _non_reader(port: int) -> str:
    return f"{await pipeline_unread(port)} requests accepted"


async def pipeline_unread(port: int) -> int:
    """Pipeline 19,800-character synthesize requests for 8 s without reading a byte;
    returns how many the server took in."""
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
    return sent


CASES: list[tuple[str, Callable[[int], Awaitable[str]]]] = [
    # References, not bad input: what ordinary requests cost once the server is warm.
    ("(ref) 2 s audio, ordinary", lambda p: _audio(p, 16000, 2, 1, 2)),
    ("(ref) 30 s audio, the cap", lambda p: _audio(p, 16000, 2, 1, 30)),
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
    ("20,000-char run-on sentence", _run_on_synthesis),
    ("(ref) two at once, 160-char", _two_syntheses),
    ("non-reading client", _non_reader),
]

WARM_UP: list[tuple[str, Callable[[int], Awaitable[str]]]] = [
    ("2 s audio", lambda p: _audio(p, 16000, 2, 1, 2)),
    ("30 s audio", lambda p: _audio(p, 16000, 2, 1, 30)),
    ("20,000-char synthesis", _long_synthesis),
    ("two at once, 160-char", _two_syntheses),
]
SETTLE_S = 4.0
"""Quiet after the warm-up: its burst of two syntheses grows memory past the idle heap
reclaimer's slack, so the reclaimer trims once, giving back the decoders' kept working
set with the fragmentation; one more ordinary request of each kind reserves it again."""
REWARM: list[tuple[str, Callable[[int], Awaitable[str]]]] = [
    ("30 s audio, after settling", lambda p: _audio(p, 16000, 2, 1, 30)),
    ("160-char, after settling", _one_synthesis),
]


async def _measure(
    proc: psutil.Process, port: int, cases: list[tuple[str, Callable[[int], Awaitable[str]]]]
) -> list[tuple[str, float, float, float, float, str]]:
    rows = []
    for name, case in cases:
        with RssSampler(proc) as rss:
            outcome = await case(port)
            await asyncio.sleep(1)
        after = proc.memory_info().rss
        rows.append((name, rss.before / MB, rss.peak / MB, after / MB, rss.growth_mb, outcome))
        await asyncio.sleep(1)
    return rows


async def main() -> None:
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    cases = [c for c in CASES if not only or any(o in c[0] for o in only)] * (3 if only else 1)
    extra = [a for a in sys.argv[1:] if a.startswith("--")]
    server = launch(Path(tempfile.mkdtemp(prefix="bad-input-")), *extra)
    proc = psutil.Process(server.proc.pid)
    try:
        await asyncio.sleep(2)
        fresh = proc.memory_info().rss / MB
        cold = await _measure(proc, server.port, WARM_UP)
        await asyncio.sleep(SETTLE_S)
        cold += await _measure(proc, server.port, REWARM)
        warm = proc.memory_info().rss / MB
        rows = await _measure(proc, server.port, cases)
        alive = server.proc.poll() is None
    finally:
        code = stop(server)
    mode = (
        "released after each (--release-memory)"
        if "--release-memory" in extra
        else "kept between requests (default)"
    )
    print(f"allocator: decoder working memory {mode}")
    print(f"RSS after start-up {fresh:.1f} MB; after the ordinary warm-up {warm:.1f} MB")
    print(f"cold, ordinary requests (the warm-up; {SETTLE_S:.0f} s idle before the last two):")
    for name, before, peak, after, growth, _outcome in cold:
        print(
            f"  {name:<26} before {before:6.1f}  peak {peak:6.1f}  after {after:6.1f}  "
            f"growth {growth:5.1f} MB"
        )
    print(
        f"{'case':<28} {'before MB':>9} {'peak MB':>8} {'after MB':>9} {'growth MB':>9}  "
        f"{'goal':<4}  outcome"
    )
    for name, before, peak, after, growth, outcome in rows:
        verdict = "ok" if growth < GOAL_MB else "OVER"
        print(
            f"{name:<28} {before:9.1f} {peak:8.1f} {after:9.1f} {growth:9.1f}  {verdict:<4}  "
            f"{outcome}"
        )
    print(f"peak RSS over the whole run {max(r[2] for r in cold + rows):.1f} MB")
    print(f"server alive after all cases: {alive}; exit code {code}")


if __name__ == "__main__":
    asyncio.run(main())
