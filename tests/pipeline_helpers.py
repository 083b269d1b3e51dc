"""An in-process server (real engines, real TCP) and a scripted direct satellite."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest_asyncio
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Attribution, Info, Satellite
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming_helpers import to_16k_mono

from wyoming_rtx.app import App
from wyoming_rtx.audio.vad import CHUNK_BYTES, CHUNK_SECONDS
from wyoming_rtx.settings import AsrSettings, HandleSettings, ServerSettings, TtsSettings


async def make_app(handle: HandleSettings | None = None) -> App:
    """Real engines on a free port; deterministic voice so fixtures repeat exactly."""
    app = App(
        ServerSettings(uri="tcp://127.0.0.1:0", zeroconf=False),
        AsrSettings(),
        TtsSettings(noise_scale=0.0, noise_w_scale=0.0),
        handle or HandleSettings(),
    )
    await app.start()
    await app.ready.wait() if app.ready.is_set() else await asyncio.wait_for(_ready(app), 180)
    return app


async def _ready(app: App) -> None:
    while not app.ready.is_set():
        assert app._loading is not None
        if app._loading.done():
            app._loading.result()
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def app() -> AsyncIterator[App]:
    running = await make_app()
    yield running
    await running.stop()


async def speech(app: App, text: str) -> bytes:
    """16 kHz mono speech for `text`, made with the server's own (deterministic) voice."""
    pieces = [p async for p in app.tts.synthesize(text)]
    pcm = b"".join(p.pcm for p in pieces)
    # A satellite's pre-roll keeps a little audio from before the speech; whisper needs
    # that lead-in to hear the first word.
    return bytes(int(16000 * 0.4) * 2) + to_16k_mono(pcm, pieces[0].rate)


@dataclass
class TurnResult:
    events: list[Event] = field(default_factory=list)
    stopped_at: float = 0.0
    first_audio_at: float | None = None

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    @property
    def audio(self) -> bytes:
        return b"".join(AudioChunk.from_event(e).audio for e in self.of("audio-chunk"))

    @property
    def first_audio_delay(self) -> float:
        assert self.first_audio_at is not None
        return self.first_audio_at - self.stopped_at


class FakeSatellite:
    """A direct-mode satellite scripted from a test: info, then turns."""

    def __init__(self, port: int, name: str, area: str | None) -> None:
        self.client = AsyncTcpClient("127.0.0.1", port)
        self.name, self.area = name, area

    async def __aenter__(self) -> FakeSatellite:
        await self.client.connect()
        info = Info(
            satellite=Satellite(
                name=self.name,
                area=self.area,
                description="test satellite",
                attribution=Attribution(name="tests", url="https://example.invalid"),
                installed=True,
                version="1",
            )
        )
        await self.client.write_event(info.event())
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def send_turn(
        self, pcm: bytes, trailing_silence: float = 0.3, voice_stopped: bool = False
    ) -> float:
        """Stream a turn in a burst, as a satellite after its VAD; returns audio-stop time.

        voice_stopped: mark the end of speech with `voice-stopped` before the trailing
        silence, as our own satellite does (DESIGN §4), then still close with audio-stop."""
        run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS)
        await self.client.write_event(run.event())
        await self.client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        audio = pcm + bytes(int(16000 * trailing_silence) * 2)
        for offset in range(0, len(audio), 3200):
            if voice_stopped and offset >= len(pcm) and offset - 3200 < len(pcm):
                await self.client.write_event(Event(type="voice-stopped"))
            chunk = AudioChunk(rate=16000, width=2, channels=1, audio=audio[offset : offset + 3200])
            await self.client.write_event(chunk.event())
        await self.client.write_event(AudioStop().event())
        return time.monotonic()

    async def read_answer(self, result: TurnResult, timeout: float = 60) -> TurnResult:
        """Read until the answer audio ends; time stamps the first audio chunk."""
        while True:
            event = await asyncio.wait_for(self.client.read_event(), timeout)
            assert event is not None, [e.type for e in result.events]
            result.events.append(event)
            if event.type == "audio-chunk" and result.first_audio_at is None:
                result.first_audio_at = time.monotonic()
            if event.type == "audio-stop":
                return result

    async def turn(
        self, pcm: bytes, trailing_silence: float = 0.3, voice_stopped: bool = False
    ) -> TurnResult:
        """One whole turn, then `played`."""
        stopped_at = await self.send_turn(pcm, trailing_silence, voice_stopped)
        result = TurnResult(stopped_at=stopped_at)
        await self.read_answer(result)
        await self.client.write_event(Event(type="played"))
        return result


def heard(app: App, pcm22k: bytes, rate: int) -> asyncio.Future[str]:
    """Transcribe answer audio back with the server's own ASR."""
    return asyncio.ensure_future(app.asr.transcribe(to_16k_mono(pcm22k, rate)))


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


TAIL_SECONDS = 3.0
"""Room noise after the speech: longer than every server rule, so the client never ends."""


def room_noise(seconds: float, seed: int = 3) -> bytes:
    """-60 dBFS white noise: a quiet room, which the VAD hears as silence."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(16000 * seconds)) * 33).astype("<i2").tobytes()


def speech_end(pcm: bytes) -> float:
    """Seconds to the end of the last 10 ms frame within 30 dB of the loudest (the voice's
    own padding after the last word is not speech)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: samples.size - samples.size % 160].reshape(-1, 160)
    energy = (frames**2).mean(axis=1)
    return (int(np.nonzero(energy >= energy.max() / 1000)[0][-1]) + 1) * 0.01


@dataclass
class PacedTurn:
    speech_seconds: float
    """Where the speech ends in the streamed audio."""
    events: list[Event] = field(default_factory=list)
    stopped_after: float | None = None
    """Seconds of audio sent when voice-stopped arrived; None if it never did."""

    def kinds(self) -> list[str]:
        return [e.type for e in self.events]

    def text(self, kind: str) -> str:
        return next(e.data.get("text") or "" for e in self.events if e.type == kind)


async def paced_turn(port: int, pcm: bytes, name: str) -> PacedTurn:
    """Stream `pcm` and then room noise at real-time pace until the server says
    voice-stopped (or the noise runs out); then audio-stop, and read the answer."""
    result = PacedTurn(speech_seconds=speech_end(pcm))
    audio = pcm + room_noise(TAIL_SECONDS)
    async with FakeSatellite(port, name, "Living Room") as sat:
        client = sat.client
        await client.write_event(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        )
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        stopped = asyncio.Event()
        sent = 0

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                result.events.append(event)
                if event.type == "voice-stopped" and result.stopped_after is None:
                    result.stopped_after = sent / 32000
                    stopped.set()
                if event.type == "audio-stop":
                    return

        reader = asyncio.create_task(read())
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(audio), CHUNK_BYTES)):
            delay = start + index * CHUNK_SECONDS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if stopped.is_set():
                break
            chunk = audio[offset : offset + CHUNK_BYTES]
            await client.write_event(
                AudioChunk(rate=16000, width=2, channels=1, audio=chunk).event()
            )
            sent += len(chunk)
        await client.write_event(AudioStop().event())
        await asyncio.wait_for(reader, 60)
        with contextlib.suppress(ConnectionError):
            await client.write_event(Event(type="played"))
    return result


async def hesitant(app: App, before: str, after: str, pause: float) -> bytes:
    """`before`, a pause of room noise, then `after` (as two renderings of the voice)."""
    first = await speech(app, before)
    second = (await speech(app, after))[int(16000 * 0.4) * 2 :]  # without the lead-in
    return first + room_noise(pause, seed=5) + second
