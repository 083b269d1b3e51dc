"""Events out of order or incomplete get an `error` event or are ignored, never a crash:
the same connection then still answers describe and ping, and the server a real request."""

from __future__ import annotations

import asyncio

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping
from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop
from wyoming_helpers import normalize, read_wav, transcribe

SILENCE = bytes(3200)  # 0.1 s at 16 kHz
CHUNK = AudioChunk(rate=16000, width=2, channels=1, audio=SILENCE).event()

CASES: dict[str, tuple[list[Event], set[str]]] = {
    # events sent, then the answer types that must arrive before the final pong
    "audio-chunk first, then stop": ([CHUNK, AudioStop().event()], {"transcript"}),
    "audio-stop twice": (
        [
            AudioStart(rate=16000, width=2, channels=1).event(),
            CHUNK,
            AudioStop().event(),
            AudioStop().event(),
        ],
        {"transcript"},
    ),
    "audio-stop alone": ([AudioStop().event()], {"transcript"}),
    "audio-chunk without payload": (
        [Event(type="audio-chunk", data={"rate": 16000, "width": 2, "channels": 1})],
        {"error"},
    ),
    "format change mid-stream": (
        [
            AudioStart(rate=16000, width=2, channels=1).event(),
            CHUNK,
            AudioChunk(rate=22050, width=2, channels=1, audio=SILENCE).event(),
            AudioStop().event(),
        ],
        {"error"},
    ),
    "synthesize-chunk without start": ([SynthesizeChunk(text="Hello there.").event()], set()),
    "synthesize-stop without start": ([SynthesizeStop().event()], set()),
    "synthesize-start twice": (
        [
            SynthesizeStart().event(),
            SynthesizeStart().event(),
            SynthesizeChunk(text="Hi.").event(),
            SynthesizeStop().event(),
        ],
        {"synthesize-stopped"},
    ),
    "transcript with no text": ([Event(type="transcript", data={})], {"error"}),
    "transcript with null text": ([Event(type="transcript", data={"text": None})], set()),
    "satellite events without a pipeline": (
        [
            Event(type="played"),
            Event(type="run-pipeline", data={"start_stage": "asr"}),
            Event(type="pong"),
            Event(type="info", data={}),
        ],
        set(),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_out_of_order_events(server, name: str) -> None:
    sent, must_see = CASES[name]
    log_before = len(server.log())
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        for event in sent:
            await client.write_event(event)
        await client.write_event(Describe().event())
        seen: list[str] = []
        async with asyncio.timeout(20):
            while not (must_see <= set(seen) and "info" in seen):
                event = await client.read_event()
                assert event is not None, f"connection closed after {seen}"
                seen.append(event.type)
            await client.write_event(Ping(text="still there").event())
            while (event := await client.read_event()) is not None and event.type != "pong":
                seen.append(event.type)
        assert event is not None and event.data.get("text") == "still there", seen
    assert server.proc.poll() is None
    assert "Traceback" not in server.log()[log_before:], server.log()[log_before:]


async def test_server_still_transcribes_after_out_of_order_events(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    result = await transcribe(server.port, pcm, rate, width, channels, chunk_seconds=0.2)
    assert normalize(result.text) == "turn on the living room light"
