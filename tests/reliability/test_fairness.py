"""No client can starve another: `describe` stays under Home Assistant's one-second budget
while someone synthesizes a long text, floods describes, stops reading, or while 50
requests run at once; and every one of those requests still completes correctly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

import psutil
from reliability.support import (
    LONG_TEXT,
    SHORT_TEXT,
    DescribeProbe,
    cpu_over,
    open_peers,
)
from server_proc import launch, stop
from wyoming.client import AsyncTcpClient
from wyoming.event import async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize
from wyoming_helpers import (
    describe,
    normalize,
    read_until,
    read_wav,
    synthesize,
    transcribe,
)

EXPECTED = "turn on the living room light"


async def _check_speech(port: int, text: str = SHORT_TEXT) -> None:
    """A real synthesis: one audio stream of plausible length for the text."""
    speech = await synthesize(port, text)
    seconds = len(speech.pcm) / (speech.rate * speech.width * speech.channels)
    assert 0.5 < seconds < 10, f"{seconds:.2f} s of audio for {text!r}"
    assert [e.type for e in speech.events].count("audio-start") == 1


async def _check_transcript(port: int, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    result = await transcribe(port, pcm, rate, width, channels, chunk_seconds=0.2)
    assert normalize(result.text) == EXPECTED


async def test_describe_during_long_synthesis(server) -> None:
    """(a) A 20,000-character synthesis on one connection; describe on others stays fast."""
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Synthesize(text=LONG_TEXT).event())
        first = await read_until(client, "audio-chunk", timeout=30)
        assert first[0].type == "audio-start", [e.type for e in first]

        chunks = 0

        async def keep_reading() -> None:
            nonlocal chunks
            while (event := await client.read_event()) is not None:
                assert event.type == "audio-chunk", event.type
                chunks += 1

        reader = asyncio.create_task(keep_reading())
        probe = DescribeProbe(server.port)
        await probe.run_while(lambda: len(probe.latencies) + len(probe.failures) < 15)
        assert not reader.done(), "the long synthesis ended early"
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    probe.check(min_probes=15)
    assert chunks > 20, "the long synthesis was not streaming while describe was probed"


async def test_describe_flood_pipelined_on_one_connection(server) -> None:
    """(b) 500 describes written at once on one connection: all answered, others unharmed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(500):
            await async_write_event(Describe().event(), writer)

        async def read_all() -> int:
            infos = 0
            while infos < 500:
                line = await asyncio.wait_for(reader.readline(), 30)
                assert line, f"closed after {infos} infos"
                header = json.loads(line)
                assert header["type"] == "info", header
                for key in ("data_length", "payload_length"):
                    if header.get(key):
                        await reader.readexactly(header[key])
                infos += 1
            return infos

        probe = DescribeProbe(server.port, period=0.05)
        infos = await probe.around(read_all())
    finally:
        writer.close()
    assert infos == 500
    probe.check(min_probes=1)


async def test_describe_flood_across_many_connections(server) -> None:
    """(b) 500 describes from 100 connections at once: all answered, the probe still < 1 s."""

    async def five_describes() -> int:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            for _ in range(5):
                await client.write_event(Describe().event())
            answered = 0
            for _ in range(5):
                events = await read_until(client, "info", timeout=30)
                answered += [e.type for e in events] == ["info"]
            return answered

    probe = DescribeProbe(server.port, period=0.05)
    counts = await probe.around(asyncio.gather(*(five_describes() for _ in range(100))))
    assert sum(counts) == 500
    probe.check(min_probes=1)


async def test_client_that_stops_reading_is_dropped(tmp_path, data_dir) -> None:
    """(c) A client that requests speech and never reads fills its socket buffers; the server
    must drop it after --write-timeout (2 s here), stop its work, and serve others meanwhile."""
    running = launch(tmp_path, "--write-timeout", "2")
    proc = psutil.Process(running.proc.pid)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up sooner
        sock.connect(("127.0.0.1", running.port))
        _reader, writer = await asyncio.open_connection(sock=sock)
        for _ in range(3):
            await async_write_event(Synthesize(text=LONG_TEXT).event(), writer)
        my_port = sock.getsockname()[1]

        started = time.monotonic()
        while my_port not in open_peers(proc):  # accepted a moment after connect()
            assert time.monotonic() - started < 10, "the server never accepted the client"
            await asyncio.sleep(0.05)
        probe = DescribeProbe(running.port)

        def still_connected() -> bool:
            assert time.monotonic() - started < 90, "the non-reading client was never dropped"
            return my_port in open_peers(proc)

        await probe.run_while(still_connected)
        probe.check(min_probes=3)
        assert "has not read its output" in running.log()
        # Dropping it must also stop its synthesis, not leave it rendering for nobody.
        await asyncio.sleep(1.0)
        assert await cpu_over(proc, 1.0) < 0.25
        writer.transport.abort()
        await _check_speech(running.port)
        await _check_transcript(running.port, data_dir)
    finally:
        assert stop(running) == 0, running.log()


async def test_fifty_concurrent_requests_all_complete(server, data_dir) -> None:
    """(d) 50 requests at once (describe, short synthesis, short transcription): every one
    is answered correctly, and a describe probe beside them stays under a second."""
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")

    async def one(n: int) -> str:
        kind = ("describe", "synthesize", "transcribe")[n % 3]
        if kind == "describe":
            info, _seconds = await describe(server.port, timeout=30)
            assert info.asr and info.tts
        elif kind == "synthesize":
            await _check_speech(server.port)
        else:
            result = await transcribe(server.port, pcm, rate, width, channels, chunk_seconds=0.2)
            assert normalize(result.text) == EXPECTED
        return kind

    probe = DescribeProbe(server.port)
    kinds = await probe.around(asyncio.gather(*(one(n) for n in range(50))))
    assert len(kinds) == 50
    probe.check(min_probes=3)
