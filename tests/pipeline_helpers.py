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
