"""Wiring: settings (and optional test seams) → a running satellite in either mode.

This is the API tests and ``__main__`` share. To drive direct mode with a WAV as the
microphone and a file as the speaker::

    settings = SatelliteSettings(
        name="kitchen", area="Kitchen",
        mic=MicSettings(file=Path("turn.wav")), snd=SndSettings(file=Path("out.wav")),
        wake=WakeSettings(names=("hey_jarvis",)),
    )
    run = await run_direct(settings, DirectSettings(server_uri="tcp://127.0.0.1:10900"))
    run.client.transcripts, run.client.answers, run.loop.events   # what happened

``run_direct`` returns once the file is used up and the last answer has played.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from wyoming.info import Info

from .audio_in import MicSource
from .audio_out import Speaker
from .core import SatelliteLoop, Transport, build_info
from .direct import DirectClient
from .discovery import Announcer, ServerFinder
from .ha_server import HaSatellite
from .mic_supervisor import MicSupervisor
from .settings import DirectSettings, HaSettings, SatelliteSettings
from .sinks import SoundSink
from .turn_judge import load_turn_judge
from .wake import WakeDetector, WakeEngine, make_engine

_LOGGER = logging.getLogger(__name__)


@dataclass
class Seams:
    """Replaceable parts (tests): a mic source factory, a sound sink, a loaded wake engine."""

    mic_factory: Callable[[], MicSource] | None = None
    sink: SoundSink | None = None
    engine: WakeEngine | None = None


def make_info(settings: SatelliteSettings, engine: WakeEngine) -> Info:
    return build_info(settings, [m.id for m in engine.models], [m.phrase for m in engine.models])


def make_loop(
    settings: SatelliteSettings,
    transport: Transport,
    speaker: Speaker,
    engine: WakeEngine,
    seams: Seams,
) -> SatelliteLoop:
    mic = MicSupervisor(settings.mic, seams.mic_factory)
    return SatelliteLoop(
        settings,
        mic,
        WakeDetector(engine, settings.wake),
        speaker,
        transport,
        judge=load_turn_judge(settings.vad.turn_model),
    )


@dataclass
class DirectRun:
    client: DirectClient
    loop: SatelliteLoop
    speaker: Speaker


async def run_direct(
    settings: SatelliteSettings,
    direct: DirectSettings,
    seams: Seams | None = None,
    connect_wait_seconds: float = 10.0,
) -> DirectRun:
    """Run direct mode until the microphone ends (never, for a live mic)."""
    seams = seams or Seams()
    engine = seams.engine or make_engine(settings.wake)
    speaker = Speaker(settings.snd, seams.sink)
    finder = None
    if direct.server_uri is None:
        finder = ServerFinder(direct.zeroconf_interfaces, direct.discovery_seconds)
    client = DirectClient(settings, direct, speaker, make_info(settings, engine), finder)
    loop = make_loop(settings, client, speaker, engine, seams)
    link = asyncio.create_task(client.run(), name="satellite direct link")
    try:
        if settings.mic.file is not None:
            # A recording has no "later": give the server a moment before the audio starts.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.connected.wait(), connect_wait_seconds)
        await loop.run()
    finally:
        link.cancel()
        await asyncio.gather(link, return_exceptions=True)
        loop.close()
    return DirectRun(client, loop, speaker)


class HaApp:
    """Home Assistant mode: ``start()`` (listen + announce), ``run()`` (listen), ``stop()``."""

    def __init__(
        self, settings: SatelliteSettings, ha: HaSettings, seams: Seams | None = None
    ) -> None:
        self.settings = settings
        self.ha = ha
        self.seams = seams or Seams()
        engine = self.seams.engine or make_engine(settings.wake)
        self.speaker = Speaker(settings.snd, self.seams.sink)
        self.satellite = HaSatellite(settings, ha, self.speaker, make_info(settings, engine))
        self.loop = make_loop(settings, self.satellite, self.speaker, engine, self.seams)
        self.announcer: Announcer | None = None

    async def start(self) -> int:
        port = await self.satellite.start()
        if self.ha.zeroconf:
            self.announcer = Announcer(
                self.ha.zeroconf_name or self.settings.name,
                port,
                self.ha.zeroconf_host,
                self.ha.zeroconf_interfaces,
                bound_host=self.ha.uri.removeprefix("tcp://").rpartition(":")[0] or None,
            )
            await self.announcer.start()
        return port

    async def run(self) -> None:
        await self.loop.run()

    async def stop(self) -> None:
        if self.announcer is not None:
            await self.announcer.stop()
        await self.satellite.stop()
        self.loop.close()
