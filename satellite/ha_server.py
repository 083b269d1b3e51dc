"""Home Assistant satellite mode (DESIGN §3): HA connects here and runs its Assist pipeline.

HA's side (``homeassistant/components/wyoming/assist_satellite.py``): it connects, sends
``run-satellite`` and ``describe``, pings every ~2 s and reconnects after 5 s of silence. On a
wake word we send ``detection`` then ``run-pipeline{asr→tts}`` and stream the turn; HA answers
with pipeline events (``transcript``, ``synthesize``, ``error``…) and the 22050 Hz answer as
``audio-start``/``audio-chunk``*/``audio-stop``, and waits for ``played``.

One connection owns the satellite. A connection that only asks ``describe`` (HA's set-up
probe, zeroconf discovery) never takes it. The first connection that sends anything else
becomes the owner and *replaces* an older owner, which is closed: HA keeps one task per
satellite and disconnects before it reconnects, so a second owning connection means the first
is stale (HA restarted, or a half-open socket this side cannot notice because it only writes
when spoken to). Refusing it would lock HA out until TCP gave up on the dead link.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.wake import Detection

from wyoming_rtx.audio.endpoint import EndReason

from .audio_out import AnswerPlayer, Speaker
from .core import AnswerWait
from .settings import HaSettings, SatelliteSettings
from .wake import WakeDetection

_LOGGER = logging.getLogger(__name__)


class HaConnection:
    """One TCP connection from Home Assistant (or a describe probe)."""

    def __init__(
        self, satellite: HaSatellite, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.satellite = satellite
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.running = False
        """HA said ``run-satellite`` (and not ``pause-satellite`` since)."""
        self.player = AnswerPlayer(satellite.speaker, self._send_played, satellite._tasks)

    async def write(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def _send_played(self) -> None:
        self.satellite._turn_done()
        await self.write(Played().event())

    async def run(self) -> None:
        try:
            while (event := await async_read_event(self.reader)) is not None:
                if not await self._handle(event):
                    break
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Connection %s failed: %r", self.peer, err)
        finally:
            self.player.cancel()
            self.satellite._release(self)
            self.writer.close()

    def close(self) -> None:
        self.player.cancel()
        self.writer.close()
        self.reader.feed_eof()

    async def _handle(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write(self.satellite.info.event())
            return True
        self.satellite._claim(self)
        if Ping.is_type(event.type):
            await self.write(Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(event.type):
            self.running = True
            _LOGGER.info("Home Assistant is running the satellite")
        elif PauseSatellite.is_type(event.type):
            self.running = False
            self.satellite._turn_done()
            _LOGGER.info("Home Assistant paused the satellite")
        elif self.player.handle_event(event):
            if AudioStart.is_type(event.type):
                self.satellite.answer.clear()  # the player now mutes the wake word
        elif Error.is_type(event.type):
            error = Error.from_event(event)
            _LOGGER.warning("Home Assistant error %s: %s", error.code, error.text)
            self.satellite.errors.append(error)
            if not self.player.active:
                self.satellite._turn_done()
        elif Transcript.is_type(event.type):
            text = Transcript.from_event(event).text
            self.satellite.transcripts.append(text)
            _LOGGER.info("Heard: %s", text)
        elif Synthesize.is_type(event.type):
            _LOGGER.info("Answer: %s", Synthesize.from_event(event).text)
        elif TimerStarted.is_type(event.type):
            timer = TimerStarted.from_event(event)
            _LOGGER.info("Timer %s started: %s s (%s)", timer.id, timer.total_seconds, timer.name)
        elif TimerUpdated.is_type(event.type):
            updated = TimerUpdated.from_event(event)
            _LOGGER.info(
                "Timer %s updated: %s s, active=%s",
                updated.id,
                updated.total_seconds,
                updated.is_active,
            )
        elif TimerCancelled.is_type(event.type):
            _LOGGER.info("Timer %s cancelled", TimerCancelled.from_event(event).id)
        elif TimerFinished.is_type(event.type):
            _LOGGER.info("Timer %s finished", TimerFinished.from_event(event).id)
            self.satellite.timers_finished += 1
            self.satellite._spawn_sound(self.satellite.settings.snd.timer_finished_wav)
        else:
            _LOGGER.debug("Pipeline event from Home Assistant: %s", event.type)
        return True


class HaUplink:
    """One turn's audio streamed to the owning HA connection (``detection`` to ``audio-stop``).

    A lost, replaced or paused connection drops the rest of the turn quietly.
    """

    def __init__(self, connection: HaConnection) -> None:
        self.connection = connection
        self._timestamp = 0
        self._ok = True

    async def _write(self, event: Event) -> None:
        if not self._ok:
            return
        satellite = self.connection.satellite
        if satellite.owner is not self.connection or not self.connection.running:
            self._ok = False  # replaced or paused mid-turn: the rest goes nowhere
            return
        try:
            await self.connection.write(event)
        except (ConnectionError, OSError) as err:
            self._ok = False
            _LOGGER.debug("Turn dropped, Home Assistant link lost: %r", err)

    async def audio(self, pcm: bytes) -> None:
        chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm, timestamp=self._timestamp)
        self._timestamp += chunk.milliseconds
        await self._write(chunk.event())

    async def end(self, reason: EndReason) -> None:
        await self._write(AudioStop(timestamp=self._timestamp).event())
        self.connection.satellite._turn_sent()


class HaSatellite:
    """The Home Assistant transport: a Wyoming server with one owning connection."""

    def __init__(
        self, settings: SatelliteSettings, ha: HaSettings, speaker: Speaker, info: Info
    ) -> None:
        self.settings = settings
        self.ha = ha
        self.speaker = speaker
        self.info = info
        self.owner: HaConnection | None = None
        self.transcripts: list[str] = []
        self.errors: list[Error] = []
        self.timers_finished = 0
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._connections: set[HaConnection] = set()
        self.answer = AnswerWait("Home Assistant")

    async def start(self) -> int:
        """Listen on ``ha.uri`` (``tcp://host:port``; port 0 picks one); returns the port."""
        if not self.ha.uri.startswith("tcp://"):
            raise ValueError(f"--ha-uri must be tcp://host:port, not {self.ha.uri}")
        host, _, port = self.ha.uri[len("tcp://") :].rpartition(":")
        self._server = await asyncio.start_server(self._accept, host=host or None, port=int(port))
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info("Waiting for Home Assistant on port %s", self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = HaConnection(self, reader, writer)
        self._connections.add(connection)
        task = asyncio.create_task(connection.run(), name="satellite HA connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._connections.discard(connection))

    def _claim(self, connection: HaConnection) -> None:
        if self.owner is connection:
            return
        old, self.owner = self.owner, connection
        if old is not None:
            _LOGGER.warning(
                "Home Assistant connection from %s replaces the one from %s",
                connection.peer,
                old.peer,
            )
            old.close()
            self._turn_done()
        else:
            _LOGGER.info("Home Assistant connected from %s", connection.peer)

    def _release(self, connection: HaConnection) -> None:
        if self.owner is connection:
            self.owner = None
            self._turn_done()
            _LOGGER.warning("Home Assistant disconnected; wake words are ignored until it returns")

    def _spawn_sound(self, path: Path | None) -> None:
        task = asyncio.create_task(self.speaker.play_wav(path), name="satellite timer sound")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _turn_sent(self) -> None:
        self.answer.bound(self.settings.response_timeout_seconds)

    def _turn_done(self) -> None:
        self.answer.clear()

    @property
    def busy(self) -> bool:
        owner = self.owner
        if owner is not None and owner.player.active:
            return True
        return self.answer.pending

    async def begin_turn(self, detection: WakeDetection) -> HaUplink | None:
        owner = self.owner
        if owner is None:
            _LOGGER.warning("Wake word heard but Home Assistant is not connected")
            return None
        if not owner.running:
            _LOGGER.info("Wake word heard but Home Assistant has paused the satellite")
            return None
        uplink = HaUplink(owner)
        self.answer.open()
        await uplink._write(
            Detection(name=detection.name, timestamp=int(detection.audio_seconds * 1000)).event()
        )
        await uplink._write(
            RunPipeline(
                start_stage=PipelineStage.ASR,
                end_stage=PipelineStage.TTS,
                wake_word_name=detection.name,
            ).event()
        )
        await uplink._write(AudioStart(rate=16000, width=2, channels=1, timestamp=0).event())
        return uplink
