"""Direct mode (DESIGN §4): the satellite connects to a wyoming-rtx server and hands it turns.

Satellite → server: ``info`` on connect, then per turn ``run-pipeline{asr→tts}``,
``audio-start``, ``audio-chunk``* as spoken, ``voice-stopped`` + ``audio-stop`` at the local
end of speech, and ``played`` after the answer. Server → satellite: ``transcript``,
``handled``/``not-handled``, the answer audio. ``ping``/``pong`` both ways.

The connection is supervised: it reconnects with exponential backoff while the listening loop
keeps running, so the wake word still works (and is logged as unanswerable) while the server
is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wyoming.asr import Transcript
from wyoming.audio import AudioStart
from wyoming.client import AsyncClient, AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.vad import VoiceStarted, VoiceStopped

from wyoming_rtx.audio.endpoint import EndReason

from .audio_out import AnswerPlayer, Speaker
from .core import AnswerWait
from .settings import DirectSettings, SatelliteSettings
from .uplink import Uplink
from .wake import WakeDetection

_LOGGER = logging.getLogger(__name__)

STAND_DOWN = "stand-down"
"""The server's error code for "another satellite heard the wake word better" (its arbiter)."""

FindServer = Callable[[], Awaitable[str | None]]
"""Returns a server URI (zeroconf browse) or None when none was found."""


class DirectUplink(Uplink):
    """One turn's audio streamed to the server (``run-pipeline`` to ``audio-stop``).

    Write errors drop the rest of the turn quietly; the link supervisor logs and reconnects.
    """

    LINK_LOST = (ConnectionError, OSError, AttributeError)

    def __init__(self, client: DirectClient, writer: AsyncClient) -> None:
        super().__init__(client._turn_sent)
        self._writer = writer

    async def _write(self, event: Event) -> None:
        await self._writer.write_event(event)

    def _lost(self, err: Exception) -> None:
        _LOGGER.debug("Turn dropped, server link lost: %r", err)

    async def end(self, reason: EndReason) -> None:
        if reason is EndReason.SILENCE:
            await self.send(VoiceStopped(timestamp=self._timestamp).event())
        await super().end(reason)


class DirectClient:
    """The transport for direct mode. ``run()`` keeps the server link; the loop calls
    ``begin_turn`` on each wake word."""

    def __init__(
        self,
        settings: SatelliteSettings,
        direct: DirectSettings,
        speaker: Speaker,
        info: Info,
        find_server: FindServer | None = None,
    ) -> None:
        self.settings = settings
        self.direct = direct
        self.speaker = speaker
        self.info = info
        self.find_server = find_server
        self.connected = asyncio.Event()
        self.transcripts: list[str] = []
        self.answers: list[tuple[bool, str]] = []
        self.connections = 0
        self._client: AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self._player: AnswerPlayer | None = None
        self._answer = AnswerWait("the server")
        self._last_event = 0.0
        self._follow_up = False
        """The last answer asked something (continue_conversation): listen for the reply."""
        self._uplink: DirectUplink | None = None
        self.timers_finished = 0

    def take_follow_up(self) -> bool:
        """Once, after an answer that asked something has finished playing."""
        if self._follow_up and not self.busy:
            self._follow_up = False
            return True
        return False

    @property
    def busy(self) -> bool:
        if self._player is not None and self._player.active:
            return True
        return self._answer.pending

    @property
    def answering(self) -> bool:
        return self._player is not None and self._player.active

    def interrupt(self) -> None:
        """Barge-in: stop the answer; the new turn's run-pipeline makes the server drop the
        old turn (and a timer's ring)."""
        if self._player is not None:
            self._player.interrupt()

    async def begin_turn(self, detection: WakeDetection) -> DirectUplink | None:
        client = self._client
        if client is None:
            _LOGGER.warning("Wake word heard but the server is not connected")
            return None
        uplink = DirectUplink(self, client)
        self._uplink = uplink
        self._follow_up = False
        self._answer.open()  # until audio-stop is sent, then bounded
        await uplink.send(
            RunPipeline(
                start_stage=PipelineStage.ASR,
                end_stage=PipelineStage.TTS,
                wake_word_name=detection.name,
            ).event()
        )
        await uplink.send(AudioStart(rate=16000, width=2, channels=1, timestamp=0).event())
        return uplink

    def _turn_sent(self) -> None:
        self._answer.bound(self.settings.response_timeout_seconds)

    def _turn_done(self) -> None:
        self._answer.clear()

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; forever (cancel to stop)."""
        delay = self.direct.reconnect_seconds
        warned = False
        while True:
            connections = self.connections
            try:
                uri = self.direct.server_uri
                if uri is None and self.find_server is not None:
                    uri = await self.find_server()
                if uri is None:
                    raise ConnectionError("no wyoming-rtx server found by zeroconf")
                client = AsyncTcpClient.from_uri(uri)
                await client.connect()
                try:
                    await self._serve(client, uri)
                finally:
                    await client.disconnect()
                problem = "server closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any link failure means: reconnect
                problem = f"server link failed: {err!r}"
            if self.connections != connections:  # this attempt got through: start over
                warned = False
                delay = self.direct.reconnect_seconds
            # One warning per outage; the retries behind it are debug lines, not a storm.
            log = _LOGGER.debug if warned else _LOGGER.warning
            log("%s; still listening for the wake word, reconnecting in %.1f s", problem, delay)
            warned = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.direct.reconnect_max_seconds)

    async def _serve(self, client: AsyncClient, uri: str) -> None:
        loop = asyncio.get_running_loop()
        await client.write_event(self.info.event())
        self._client = client
        self._last_event = loop.time()
        self._player = AnswerPlayer(self.speaker, self._send_played, self._tasks)
        self.connections += 1
        self.connected.set()
        _LOGGER.info("Connected to server %s", uri)
        pinger = asyncio.create_task(self._ping(client), name="satellite direct ping")
        try:
            while True:
                reader = asyncio.ensure_future(client.read_event())
                done, _ = await asyncio.wait({reader, pinger}, return_when=asyncio.FIRST_COMPLETED)
                if pinger in done:
                    reader.cancel()
                    pinger.result()  # raises why the link is dead
                event = reader.result()
                if event is None:
                    return
                self._last_event = loop.time()
                await self._handle(client, event)
        finally:
            pinger.cancel()
            self._client = None
            self.connected.clear()
            if self._player is not None:
                self._player.cancel()
            self._turn_done()

    async def _ping(self, client: AsyncClient) -> None:
        """Ping the server; three silent intervals mean the link is dead."""
        loop = asyncio.get_running_loop()
        interval = self.direct.ping_seconds
        while True:
            await asyncio.sleep(interval)
            if loop.time() - self._last_event > 3 * interval:
                raise ConnectionError(f"no event from the server for {3 * interval:.0f} s")
            await client.write_event(Ping().event())

    async def _send_played(self) -> None:
        client = self._client
        self._turn_done()
        if client is not None:
            await client.write_event(Played().event())

    async def _handle(self, client: AsyncClient, event: Event) -> None:
        assert self._player is not None
        if self._player.handle_event(event):
            if AudioStart.is_type(event.type):
                self._answer.clear()  # the player now holds the wake word muted
            return
        if Ping.is_type(event.type):
            await client.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Pong.is_type(event.type):
            return
        elif Describe.is_type(event.type):
            await client.write_event(self.info.event())
        elif VoiceStarted.is_type(event.type) or VoiceStopped.is_type(event.type):
            # The server ends the turn itself when the utterance is complete (its end-of-turn
            # judge): from voice-started on, only a long fallback rule stays here, and
            # voice-stopped ends the turn at once.
            uplink = self._uplink
            if uplink is not None:
                uplink.server_judges = True
                if VoiceStopped.is_type(event.type) and not uplink.server_ended:
                    uplink.server_ended = True
                    if uplink.on_server_end is not None:
                        uplink.on_server_end()
        elif Transcript.is_type(event.type):
            text = Transcript.from_event(event).text
            self.transcripts.append(text)
            _LOGGER.info("Heard: %s", text)
        elif Handled.is_type(event.type) or NotHandled.is_type(event.type):
            handled = Handled.is_type(event.type)
            text = event.data.get("text") or ""
            self.answers.append((handled, text))
            _LOGGER.info("%s: %s", "Answer" if handled else "Not handled", text)
            context = event.data.get("context") or {}
            self._follow_up = bool(context.get("continue_conversation"))
        elif Error.is_type(event.type):
            error = Error.from_event(event)
            if error.code == STAND_DOWN:
                # Another satellite heard this wake word better and answers: stop sending.
                _LOGGER.info("Another satellite answers this turn")
                if self._uplink is not None:
                    self._uplink.drop()
            else:
                _LOGGER.warning("Server error %s: %s", error.code, error.text)
            if not self._player.active:
                self._turn_done()
        elif TimerStarted.is_type(event.type):
            timer = TimerStarted.from_event(event)
            _LOGGER.info("Timer %s started: %s s (%s)", timer.id, timer.total_seconds, timer.name)
        elif TimerFinished.is_type(event.type):
            self.timers_finished += 1
            _LOGGER.info("Timer %s finished", TimerFinished.from_event(event).id)
        elif TimerCancelled.is_type(event.type) or TimerUpdated.is_type(event.type):
            _LOGGER.info("Timer %s: %s", event.data.get("id"), event.type)
        else:
            _LOGGER.debug("Ignoring event from server: %s", event.type)
