"""Malformed frames and requests: an `error` event, that connection closed where it must
be, and the server still serving everyone else."""

from __future__ import annotations

import asyncio
import json

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming_helpers import describe, normalize, read_until, read_wav, transcribe


async def _raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[list[dict], bool]:
    """Send raw bytes; return the JSON headers received and whether the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        headers: list[dict] = []
        closed = False
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await reader.readline()
                    if not line:
                        closed = True
                        break
                    header = json.loads(line)
                    if header.get("data_length"):
                        header.setdefault("data", {}).update(
                            json.loads(await reader.readexactly(header["data_length"]))
                        )
                    headers.append(header)
        except TimeoutError:
            pass
        return headers, closed
    finally:
        writer.close()


async def _still_serving(port: int, data_dir) -> None:
    _info, seconds = await describe(port)
    assert seconds < 1.0
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    result = await transcribe(port, pcm, rate, width, channels, chunk_seconds=0.2)
    assert normalize(result.text) == "turn on the living room light"


@pytest.mark.parametrize(
    ("frame", "expect"),
    [
        (b"this is not json\n", "not valid JSON"),
        (b'["a list"]\n', "JSON object"),
        (b'{"data": {}}\n', "no event type"),
        (b'{"type": "audio-chunk", "payload_length": 1e400}\n', "finite integer"),
        (b'{"type": "audio-chunk", "payload_length": -5}\n', "negative"),
        (b'{"type": "audio-chunk", "payload_length": "12"}\n', "integer"),
        (b'{"type": "audio-chunk", "payload_length": 1000000000}\n', "exceeds the limit"),
        (b'{"type": "describe", "data_length": 100000000}\n', "exceeds the limit"),
        (b'{"type": "describe", "data_length": 5}\n[1,2]', "JSON object"),
        (b'{"type": "' + b"x" * 70000 + b'"}\n', "longer than"),
    ],
)
async def test_bad_frame_gets_error_and_close(server, data_dir, frame: bytes, expect: str) -> None:
    headers, closed = await _raw_exchange(server.port, frame)
    assert closed, "the offending connection must be closed"
    assert headers and headers[-1]["type"] == "error", headers
    assert expect in headers[-1]["data"]["text"]
    assert headers[-1]["data"]["code"] == "protocol-error"
    await _still_serving(server.port, data_dir)


async def test_unknown_event_is_ignored(server) -> None:
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Event(type="no-such-event", data={"x": 1}))
        await client.write_event(Event(type="describe"))
        events = await read_until(client, "info", timeout=2)
    assert [e.type for e in events] == ["info"]


async def test_malformed_event_data_gets_error_and_connection_survives(server) -> None:
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Event(type="synthesize", data={"no_text": True}))
        events = await read_until(client, "error", timeout=2)
        assert events[-1].data["code"] == "bad-event"
        await client.write_event(Event(type="describe"))
        await read_until(client, "info", timeout=2)


@pytest.mark.parametrize(
    ("rate", "width", "channels"), [(0, 2, 1), (16000, 5, 1), (16000, 2, 0), (1e400, 2, 1)]
)
async def test_unusable_audio_format_gets_error(server, data_dir, rate, width, channels) -> None:
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(
            Event(type="audio-start", data={"rate": rate, "width": width, "channels": channels})
        )
        events = await read_until(client, "error", timeout=2)
        assert events[-1].data["code"] in ("audio-format", "bad-event")
        await client.write_event(Event(type="describe"))
        await read_until(client, "info", timeout=2)
    await _still_serving(server.port, data_dir)


async def test_unusual_formats_are_converted(server, data_dir) -> None:
    """8 channels at 48 kHz, 24-bit samples and 192 kHz: converted, not garbled."""
    import numpy as np
    from wyoming_helpers import to_16k_mono

    pcm, rate, _width, _channels = read_wav(data_dir / "living_room_light_en.wav")
    mono48 = np.frombuffer(to_16k_mono(pcm, rate), dtype="<i2")  # still 16 kHz
    up = np.repeat(mono48, 3).astype(np.int32)  # 48 kHz by sample repetition
    eight = np.repeat(up[:, None], 8, axis=1).astype("<i2").tobytes()
    result = await transcribe(server.port, eight, 48000, 2, 8, chunk_seconds=0.1)
    assert normalize(result.text) == "turn on the living room light"

    as24 = (up.astype(np.int32) << 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    result = await transcribe(server.port, as24.tobytes(), 48000, 3, 1, chunk_seconds=0.1)
    assert normalize(result.text) == "turn on the living room light"

    at192 = np.repeat(mono48, 12).astype("<i2").tobytes()  # 192 kHz by sample repetition
    result = await transcribe(server.port, at192, 192000, 2, 1, chunk_seconds=0.1)
    assert normalize(result.text) == "turn on the living room light"


async def test_odd_byte_counts_are_carried_over(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        for offset in range(0, len(pcm), 3001):  # odd sizes split samples in half
            piece = pcm[offset : offset + 3001]
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=piece)
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript")
    assert normalize(events[-1].data["text"]) == "turn on the living room light"


async def test_client_vanishing_mid_request_leaves_server_serving(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client_events = [
            AudioStart(rate=rate, width=width, channels=channels).event(),
            AudioChunk(rate=rate, width=width, channels=channels, audio=pcm).event(),
            AudioStop().event(),
            Event(type="synthesize", data={"text": "A long answer. " * 40}),
        ]
        from wyoming.event import async_write_event

        for event in client_events:
            await async_write_event(event, writer)
        writer.transport.abort()  # vanish without reading anything
    await asyncio.sleep(0.5)
    await _still_serving(server.port, data_dir)


async def test_half_sent_header_is_dropped_after_timeout(tmp_path, data_dir) -> None:
    """A header that never completes is not allowed to pin the connection."""
    from server_proc import launch, stop

    running = launch(tmp_path, "--header-timeout", "1")
    try:
        headers, closed = await _raw_exchange(running.port, b'{"type": "desc', timeout=5)
        assert closed
        assert headers and "not completed" in headers[-1]["data"]["text"]
    finally:
        assert stop(running) == 0
