"""A client that vanishes mid-request stops its work at once, and leaves nothing behind:
no busy CPU, no extra threads, no open descriptors or sockets."""

from __future__ import annotations

import asyncio

from reliability.support import LONG_TEXT, SHORT_TEXT, cpu_over, open_peers, wait_idle
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event, async_write_event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart
from wyoming_helpers import read_wav, synthesize

from wyoming_rtx.app import App


async def _vanish_during_long_synthesis(port: int) -> None:
    """Ask for 20,000 characters, wait until audio flows (work is under way), then reset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await async_write_event(Synthesize(text=LONG_TEXT).event(), writer)
    while True:
        line = await asyncio.wait_for(reader.readline(), 30)
        assert line, "server closed the connection"
        if b'"audio-chunk"' in line:
            break
    writer.transport.abort()


async def _vanish_during_streaming_synthesis(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await async_write_event(SynthesizeStart().event(), writer)
    for sentence in LONG_TEXT.split(". ")[:40]:
        await async_write_event(SynthesizeChunk(text=sentence + ". ").event(), writer)
    line = await asyncio.wait_for(reader.readline(), 30)
    assert line, "server closed the connection"
    writer.transport.abort()


async def _vanish_mid_utterance(port: int, pcm: bytes) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await async_write_event(AudioStart(rate=16000, width=2, channels=1).event(), writer)
    for offset in range(0, len(pcm), 6400):
        chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm[offset : offset + 6400])
        await async_write_event(chunk.event(), writer)
    writer.transport.abort()


async def test_vanishing_client_stops_its_synthesis(server, proc) -> None:
    """CPU is busy while a long synthesis streams, and idle again within ~1-2 s of the
    client resetting its connection (the rest of the 20,000 characters is not rendered)."""
    await _vanish_during_long_synthesis(server.port)  # warm: threads and buffers exist
    await wait_idle(proc)

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await async_write_event(Synthesize(text=LONG_TEXT).event(), writer)
    drain = asyncio.create_task(_discard(reader))
    busy = await cpu_over(proc, 1.0)
    assert busy > 0.3, f"only {busy:.0%} CPU while synthesizing: the measurement means nothing"
    writer.transport.abort()
    drain.cancel()
    await asyncio.sleep(1.0)
    after = await cpu_over(proc, 1.0)
    assert after < 0.15, f"{after:.0%} CPU 1-2 s after the client left (was {busy:.0%})"


async def _discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _vanish_five_at_once(port: int, pcm: bytes) -> None:
    await asyncio.gather(
        _vanish_during_long_synthesis(port),
        _vanish_during_long_synthesis(port),
        _vanish_during_streaming_synthesis(port),
        _vanish_mid_utterance(port, pcm),
        _vanish_mid_utterance(port, pcm),
    )


async def test_twenty_vanishing_clients_leak_nothing(server, proc, data_dir) -> None:
    """Threads and fds are counted before and after 20 clients vanish mid-request (long
    synthesis, streaming synthesis, half-sent utterance), five at a time.

    The baseline is taken once warm-up batches of the same shape stop adding threads:
    thread pools (the VAD scans' pool, the engines' workers, asyncio's default executor)
    grow lazily up to their fixed size on first concurrent use, and how far one batch
    takes them depends on scheduling (one warm-up batch left 19 threads one run in six,
    22 otherwise). A leak shows as growth after that, batch on batch."""
    pcm, *_format = read_wav(data_dir / "living_room_light_en.wav")
    threads = -1
    for _warm_up in range(4):
        await _vanish_five_at_once(server.port, pcm)
        await synthesize(server.port, SHORT_TEXT)
        await asyncio.sleep(1.0)
        await wait_idle(proc, timeout=10)
        if proc.num_threads() == threads:
            break
        threads = proc.num_threads()
    threads, fds = proc.num_threads(), proc.num_fds()

    for _batch in range(4):
        await _vanish_five_at_once(server.port, pcm)
    await asyncio.sleep(1.0)
    await wait_idle(proc, timeout=10)

    assert open_peers(proc) == set(), "connections of vanished clients are still open"
    # Every pool has a fixed size (the VAD scans run in their own two-thread pool, since
    # silero keeps native threads in each thread that calls it); a pool may still reach
    # its size later than in the warm-up batch, so two threads of headroom. One leaked
    # thread per vanished client would be 20.
    assert proc.num_threads() <= threads + 2, (threads, proc.num_threads())
    assert proc.num_fds() <= fds + 2, (fds, proc.num_fds())
    speech = await synthesize(server.port, SHORT_TEXT)
    assert speech.pcm


async def test_unanswered_transcript_event_work_is_dropped_with_client(server, proc) -> None:
    """A handle request from a client that leaves at once must not leave a busy server."""
    for _ in range(5):
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        event = Event(type="transcript", data={"text": "turn on the kitchen light"})
        await async_write_event(event, writer)
        writer.transport.abort()
    await wait_idle(proc, timeout=10)
    assert open_peers(proc) == set()


async def test_vanishing_clients_leave_no_task_behind(data_dir) -> None:
    """Asyncio tasks are invisible from outside the process, so this runs the real App in
    the test's own loop and counts them: after 20 clients vanish mid-request (the same
    five shapes, four batches), every connection is gone and the loop holds exactly the
    tasks it held before (the server's own: listener, reclaimer, loaders' leftovers)."""
    from pipeline_helpers import make_app

    app = await make_app()
    try:
        port = app.listener.port
        pcm, *_format = read_wav(data_dir / "living_room_light_en.wav")
        await _vanish_five_at_once(port, pcm)  # warm: lazily created pools and tasks exist
        await _until_no_connections(app)
        before = _other_tasks()

        for _batch in range(4):
            await _vanish_five_at_once(port, pcm)
        await _until_no_connections(app)
        await asyncio.sleep(0.5)

        after = _other_tasks()
        assert len(after) <= len(before), sorted(after - before)
        assert (await synthesize(port, SHORT_TEXT)).pcm
    finally:
        await app.stop()


def _other_tasks() -> set[str]:
    return {
        f"{task.get_name()} {id(task)}"
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
    }


async def _until_no_connections(app: App, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while app.listener.connections:  # noqa: ASYNC110 - polls the server's own table
            await asyncio.sleep(0.05)
