"""Never silent: every request Home Assistant sends is answered with the event its client
waits for, during start-up and after a failure.

Home Assistant's Wyoming clients (homeassistant/components/wyoming: conversation.py, stt.py,
tts.py) skip every event they do not wait for, `error` included, and have no timeout of their
own: the helpers below read exactly that way, and the test's own timeout stands for "Home
Assistant's pipeline would still be waiting".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop
from wyoming_helpers import describe, normalize, read_wav, start_server

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.handle import (
    Answer,
    Assistant,
    HandleRequest,
    HandleService,
    IntentMatcher,
    never_silent,
)
from wyoming_rtx.protocol.dispatch import RtxHandler, Services
from wyoming_rtx.protocol.listener import Listener
from wyoming_rtx.settings import AsrSettings, HandleSettings, TtsSettings
from wyoming_rtx.tts.engine import SpeechAudio, TtsEngine

HA_WAITS = 30.0
"""Longer than any answer here takes; reaching it means Home Assistant would wait forever."""

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def en_matcher() -> IntentMatcher:
    """English intents, parsed once for this module."""
    matcher = IntentMatcher("en")
    asyncio.run(matcher.load())
    return matcher


async def ha_conversation(port: int, text: str) -> Event:
    """homeassistant/components/wyoming/conversation.py: one transcript, then read until a
    final answer; `error` and everything else is skipped."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            Transcript(text, context={"conversation_id": "ha-1"}, language="en").event()
        )
        while True:
            event = await asyncio.wait_for(client.read_event(), HA_WAITS)
            assert event is not None, "connection lost: Home Assistant reports an error"
            if event.type in ("handled", "not-handled", "intent", "not-recognized"):
                return event


async def ha_speech_to_text(port: int, pcm: bytes, rate: int = 16000) -> str:
    """homeassistant/components/wyoming/stt.py: transcribe, audio, then read until the
    transcript; returns its text."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        step = rate * 2 // 10
        for offset in range(0, len(pcm), step):
            chunk = AudioChunk(rate=rate, width=2, channels=1, audio=pcm[offset : offset + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), HA_WAITS)
            assert event is not None, "connection lost: Home Assistant reports an error"
            if Transcript.is_type(event.type):
                return str(Transcript.from_event(event).text)


async def ha_text_to_speech(port: int, text: str, *, streaming: bool = False) -> list[str]:
    """homeassistant/components/wyoming/tts.py: read until `audio-stop` (streaming: until
    `synthesize-stopped`); returns the event types read."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        if streaming:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text=text).event())
            await client.write_event(Synthesize(text=text).event())
            await client.write_event(SynthesizeStop().event())
        else:
            await client.write_event(Synthesize(text=text).event())
        end = "synthesize-stopped" if streaming else "audio-stop"
        types: list[str] = []
        while True:
            event = await asyncio.wait_for(client.read_event(), HA_WAITS)
            assert event is not None, "connection lost: Home Assistant reports an error"
            types.append(event.type)
            if event.type == end:
                return types


# --- start-up: the real server, asked before anything has loaded ---------------------------


async def test_requests_during_start_up_are_answered() -> None:
    """Home Assistant restarts the add-on and someone speaks: the conversation, speech-to-text
    and text-to-speech requests sent as soon as `describe` is answered all get their answers
    once the models are in, and the command is carried out."""
    server = await start_server(wait_ready=False)
    try:
        await describe(server.port)
        assert not any("Ready" in line for line in server.log), "loaded before the requests"
        pcm, _rate, _width, _channels = read_wav(DATA / "living_room_light_en.wav")
        started = time.monotonic()
        answer, transcript, speech = await asyncio.gather(
            ha_conversation(server.port, "turn on the living room light"),
            ha_speech_to_text(server.port, pcm),
            ha_text_to_speech(server.port, "The light is on."),
        )
        waited = time.monotonic() - started
    finally:
        await server.stop()
    assert answer.type == "handled", answer
    assert normalize(transcript) == "turn on the living room light"
    assert speech[0] == "audio-start" and "audio-chunk" in speech
    assert waited < never_silent.STARTUP_WAIT_SECONDS + 10


# --- start-up that takes too long, and failures on the handle path: the real dispatcher ----


class _BrokenAssistant(Assistant):
    """The real assistant, made to fail the way an unexpected bug would."""

    fail_after_delta = False

    async def answer(
        self, request: HandleRequest, may_act: asyncio.Event | None = None
    ) -> AsyncIterator[str | Answer]:
        if self.fail_after_delta:
            yield "The kitchen light"
        raise TypeError("brightness must be an int, not 'str'")


@contextlib.asynccontextmanager
async def _serving(services: Services) -> AsyncIterator[int]:
    """The server's own listener and dispatcher on a free port, with the given services."""
    listener = Listener(
        "tcp://127.0.0.1:0",
        partial(RtxHandler, services=services),
        services.limits,
        allow=["127.0.0.0/8"],
    )
    await listener.start()
    try:
        assert listener.port is not None
        yield listener.port
    finally:
        await listener.stop()


def _handle_services(assistant: Assistant, settings: HandleSettings, wait: float) -> Services:
    handle = HandleService(assistant, settings, startup_wait=wait)
    return Services(asr=None, tts=None, handle=handle)


async def test_start_up_past_the_bound_answers_still_starting(en_matcher) -> None:
    """Intents still loading after the bound: a spoken "still starting" instead of silence."""
    settings = HandleSettings()
    assistant = Assistant(settings, matcher=en_matcher)  # never started: still loading
    async with _serving(_handle_services(assistant, settings, wait=0.5)) as port:
        started = time.monotonic()
        event = await ha_conversation(port, "turn on the living room light")
    assert event.type == "not-handled"
    assert event.data["text"] == never_silent.STARTING_TEXT
    assert 0.5 <= time.monotonic() - started < 5


@pytest.mark.parametrize("reply_mode", ["handled", "intent"])
@pytest.mark.parametrize("fail_after_delta", [False, True])
async def test_a_failure_while_answering_is_a_spoken_not_handled(
    en_matcher, caplog, reply_mode: str, fail_after_delta: bool
) -> None:
    """An exception in the assistant (before or after streaming began, in either reply mode)
    reaches Home Assistant as `not-handled` with a sentence it speaks; the traceback is in the
    log; the same connection answers the next request."""
    settings = HandleSettings(reply_mode=reply_mode)
    assistant = _BrokenAssistant(settings, matcher=en_matcher)
    assistant.fail_after_delta = fail_after_delta
    await assistant.start()
    try:
        async with _serving(_handle_services(assistant, settings, wait=5)) as port:
            event = await ha_conversation(port, "what is the meaning of life")
            again = await ha_conversation(port, "what is the meaning of life")
    finally:
        await assistant.stop()
    assert event.type == "not-handled", event
    assert never_silent.FAILED_TEXT in event.data["text"]
    assert event.data["context"]["conversation_id"] == "ha-1"
    assert again.type == "not-handled"
    assert "brightness must be an int" in caplog.text and "Traceback" in caplog.text


async def test_a_failure_on_the_satellite_path_ends_with_the_apology(en_matcher) -> None:
    """The direct satellite's turn takes its answers the same way: a failure after a streamed
    delta ends with the apology as one more delta and a not-handled answer."""
    settings = HandleSettings()
    assistant = _BrokenAssistant(settings, matcher=en_matcher)
    assistant.fail_after_delta = True
    await assistant.start()
    try:
        items = [
            item async for item in never_silent.answers(assistant, HandleRequest("what is up"))
        ]
    finally:
        await assistant.stop()
    assert items[0] == "The kitchen light"
    assert items[1].strip() == never_silent.FAILED_TEXT
    assert isinstance(items[-1], Answer) and not items[-1].handled
    assert len(items) == 3


# --- speech-to-text and text-to-speech failures -------------------------------------------


class _FailingStream:
    """An utterance whose decode fails (a CUDA error, a broken model file)."""

    speculative_hit = False
    truncated = False

    def feed(self, pcm: bytes) -> None:
        return None

    def cancel(self) -> None:
        return None

    async def finish(self, accept=None) -> str:
        raise RuntimeError("CUDA failed with error out of memory")


async def test_a_failed_transcription_ends_with_an_empty_transcript(caplog) -> None:
    """Home Assistant's speech-to-text client gets a transcript (empty: its pipeline says
    "no text recognized") instead of waiting forever; the cause is logged."""
    asr = AsrEngine(AsrSettings())
    asr.stream = lambda language=None, accept=None: _FailingStream()  # type: ignore[method-assign]
    async with _serving(Services(asr=asr, tts=None, handle=None)) as port:
        text = await ha_speech_to_text(port, b"\0" * 32000)
    assert text == ""
    assert "CUDA failed with error out of memory" in caplog.text


async def test_a_refused_audio_format_still_ends_with_a_transcript() -> None:
    """Audio in a format that cannot be used: `error` at audio-start, and at audio-stop the
    empty transcript the client still waits for."""
    asr = AsrEngine(AsrSettings())
    async with _serving(Services(asr=asr, tts=None, handle=None)) as port:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(
                Event(type="audio-start", data={"rate": 16000, "width": 5, "channels": 1})
            )
            await client.write_event(AudioStop().event())
            types: list[str] = []
            while "transcript" not in types:
                event = await asyncio.wait_for(client.read_event(), HA_WAITS)
                assert event is not None
                types.append(event.type)
    assert types[0] == "error"
    assert types[-1] == "transcript"


def _failing_tts(after_audio: bool) -> TtsEngine:
    """The real engine (real voice description), whose synthesis fails mid-way."""
    tts = TtsEngine(TtsSettings())

    async def synthesize(text: str, voice=None, speaker=None, *, first_clause=None):
        if after_audio:
            yield SpeechAudio(22050, 2, 1, b"\0" * 4410, text)
        raise RuntimeError("onnxruntime: invalid input")

    tts.synthesize = synthesize  # type: ignore[method-assign]
    return tts


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("after_audio", [False, True])
async def test_a_failed_synthesis_still_ends_the_audio(
    caplog, streaming: bool, after_audio: bool
) -> None:
    """Home Assistant's text-to-speech client reads until `audio-stop` (streaming:
    `synthesize-stopped`): a failure before or after the first audio still ends the stream
    it reads, with one `audio-start`; the cause is logged."""
    tts = _failing_tts(after_audio)
    async with _serving(Services(asr=None, tts=tts, handle=None)) as port:
        types = await ha_text_to_speech(port, "The light is on.", streaming=streaming)
    assert types.count("audio-start") == 1
    assert "error" in types
    assert types[-1] == ("synthesize-stopped" if streaming else "audio-stop")
    assert "onnxruntime: invalid input" in caplog.text
