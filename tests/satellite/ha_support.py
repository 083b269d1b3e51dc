"""Home Assistant's side of the satellite's Home Assistant mode, for the tests that drive it:
a client that plays HA's assist_satellite (`FakeHa`), a speaker that records what it plays,
and the satellite app started, run and stopped around a test (`running_ha_app`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.satellite import RunSatellite
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted

from satellite.app import HaApp, Seams
from satellite.settings import HaSettings, MicSettings, SatelliteSettings, SndSettings, WakeSettings
from satellite.wake import WakeEngine

from .conftest import QueueMic


class RecordingSink:
    """A speaker that keeps each playback's PCM."""

    def __init__(self) -> None:
        self.playbacks: list[bytes] = []
        self._current = bytearray()

    async def start(self) -> None:
        self._current = bytearray()

    async def write(self, pcm: bytes) -> None:
        self._current += pcm

    async def finish(self) -> None:
        self.playbacks.append(bytes(self._current))

    async def abort(self) -> None:
        await self.finish()


class FakeHa:
    """HA's assist_satellite: connect, run-satellite, describe, ping, stream the answer."""

    def __init__(self, port: int) -> None:
        self.client = AsyncTcpClient("127.0.0.1", port)
        self.events: list[Event] = []
        self._reader: asyncio.Task | None = None

    async def connect(self) -> None:
        await self.client.connect()
        await self.client.write_event(RunSatellite().event())
        await self.client.write_event(Describe().event())
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while (event := await self.client.read_event()) is not None:
            self.events.append(event)
        self.events.append(Event(type="<closed>"))

    async def send(self, event: Event) -> None:
        await self.client.write_event(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def first(self, event_type: str) -> Event:
        return next(e for e in self.events if e.type == event_type)

    async def answer(self, seconds: float = 0.3) -> None:
        """The pipeline's events after audio-stop, then 22050 Hz TTS audio."""
        await self.send(VoiceStarted(timestamp=0).event())
        await self.send(Transcript(text="turn on the kitchen light").event())
        await self.send(Synthesize(text="Turned on the light").event())
        await self.send(AudioStart(rate=22050, width=2, channels=1).event())
        pcm = b"\x20\x00" * int(22050 * seconds)
        for i in range(0, len(pcm), 1024):
            await self.send(AudioChunk(22050, 2, 1, pcm[i : i + 1024]).event())
        await self.send(AudioStop().event())

    async def close(self) -> None:
        await self.client.disconnect()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


def satellite_settings(**overrides: object) -> SatelliteSettings:
    """The hall satellite of these tests: file mic (fed by the test), hey_jarvis, a 2 s wait
    for Home Assistant's answer; `overrides` replace any of those."""
    fields: dict[str, object] = {
        "name": "hall satellite",
        "mic": MicSettings(file=Path("unused.wav")),
        "snd": SndSettings(),
        "wake": WakeSettings(names=("hey_jarvis",)),
        "response_timeout_seconds": 2.0,
    }
    return SatelliteSettings(**(fields | overrides))  # type: ignore[arg-type]


def ha_app(
    settings: SatelliteSettings,
    mic: QueueMic,
    sink: object,
    engine: WakeEngine,
    **ha: object,
) -> HaApp:
    """The satellite in Home Assistant mode on a free port, zeroconf off; `ha` are more
    HaSettings."""
    return HaApp(
        settings,
        HaSettings(uri="tcp://127.0.0.1:0", zeroconf=False, **ha),  # type: ignore[arg-type]
        Seams(mic_factory=lambda: mic, sink=sink, engine=engine),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running_ha_app(app: HaApp, mic: QueueMic) -> AsyncIterator[int]:
    """The app started and running (its port); after, the mic ends, the run finishes and the
    app stops."""
    port = await app.start()
    task = asyncio.create_task(app.run())
    try:
        yield port
    finally:
        mic.end()
        await asyncio.wait_for(task, timeout=10)
        await app.stop()
