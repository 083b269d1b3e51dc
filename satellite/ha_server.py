"""Home Assistant satellite mode (DESIGN §3): HA connects here and runs its Assist pipeline.

What HA sends and answers on one connection, and a turn's audio up it, is in ``ha_connection``;
this module is the listening server: who may connect, which connection owns the satellite,
a finished timer's ring, and the turns.

One connection owns the satellite. A connection that only asks ``describe`` (HA's set-up
probe, zeroconf discovery) never takes it. The first connection that sends anything else
becomes the owner. While the owner is alive, a newcomer is refused with an ``error`` event
(``satellite-busy``) and closed, so no host on the LAN can push Home Assistant off. Alive
means: it sent an event within ``hold_seconds`` (HA pings every ~2 s while it runs the
satellite), or Home Assistant paused it (a muted satellite gets no pings, and HA closes that
connection itself before it reconnects). A silent owner is stale (HA restarted, or a
half-open socket this side cannot notice because it only writes when spoken to): a newcomer
*replaces* it, and the old connection is closed. TCP keepalive ends a paused owner whose host
vanished, so HA is never locked out by a dead link.

Who may connect at all is ``--ha-allow`` (``HaSettings.allow``): any other peer gets an
``error`` event (``not-allowed``) and is closed before anything it sends is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from wyoming.audio import AudioStart
from wyoming.error import Error
from wyoming.info import Info
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.wake import Detection

from wyoming_rtx.lan import NOT_ALLOWED, RefusalLog, allowed, parse_networks, peer_ip, refuse

from .audio_out import Speaker
from .core import AnswerWait
from .ha_connection import HaConnection, HaUplink, _enable_keepalive
from .settings import HaSettings, SatelliteSettings
from .wake import WakeDetection

_LOGGER = logging.getLogger(__name__)

SATELLITE_BUSY = "satellite-busy"
"""The ``error`` code a newcomer reads while the owning connection is alive."""
TIMER_RING_TIMES = 5
TIMER_RING_GAP_S = 0.5
"""A finished timer rings five times, half a second apart (as wyoming-satellite's
--timer-finished-wav-repeat 5 0.5), unless the wake word stops it first."""


class HaSatellite:
    """The Home Assistant transport: a Wyoming server with one owning connection.

    Each ``HaConnection`` sees it as its ``ConnectionOwner`` (claim, release, the turn's state).
    """

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
        self._ringing: asyncio.Task[None] | None = None
        self._ring_stop = asyncio.Event()
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task] = set()
        self._connections: set[HaConnection] = set()
        self._networks = parse_networks(ha.allow)
        self._refusals = RefusalLog()
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
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not allowed(peer, self._networks):
            self._spawn(self._refuse_peer(peer, reader, writer), "satellite refusal")
            return
        _enable_keepalive(writer)
        connection = HaConnection(self, reader, writer)
        self._connections.add(connection)
        task = asyncio.create_task(connection.run(), name="satellite HA connection")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _t: self._connections.discard(connection))

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _log_refusal(self, host: str, why: str) -> None:
        """One WARNING per address per period: a host retrying in a loop must not flood."""
        repeats = self._refusals.should_log(host)
        if repeats is not None:
            again = f" ({repeats} more since the last report)" if repeats else ""
            _LOGGER.warning("Refused %s: %s%s", host, why, again)

    async def _refuse_peer(
        self, peer: object, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        ip = peer_ip(peer)
        host = str(ip) if ip is not None else str(peer)
        self._log_refusal(host, f"not in --ha-allow {' '.join(self.ha.allow) or '(empty)'}")
        text = f"{host} may not connect to this satellite: --ha-allow does not include it"
        await refuse(reader, writer, text, NOT_ALLOWED)

    async def refuse_busy(self, connection: HaConnection) -> None:
        owner = self.owner
        holder = owner.peer[0] if owner is not None and owner.peer else "another client"
        host = connection.peer[0] if connection.peer else "?"
        self._log_refusal(host, f"Home Assistant at {holder} holds the satellite and is alive")
        text = (
            f"this satellite is held by {holder}, which is still connected and answering; "
            "it is free again once that connection closes or goes quiet"
        )
        await refuse(connection.reader, connection.writer, text, SATELLITE_BUSY)

    async def claim(self, connection: HaConnection) -> bool:
        """Make `connection` the owner unless a live owner holds the satellite.

        Returns False when the newcomer must be refused. A live owner gets
        ``claim_grace_seconds`` to end first: HA's reconnect closes the old link just before.
        """
        if self.owner is connection:
            return True
        holder = self.owner
        if holder is not None and holder.alive():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(holder.ended.wait(), self.ha.claim_grace_seconds)
            if self.owner is connection:
                return True
            if self.owner is not None and self.owner.alive():
                return False
        old, self.owner = self.owner, connection
        if old is not None:
            _LOGGER.warning(
                "Home Assistant connection from %s replaces the one from %s (quiet or closed)",
                connection.peer,
                old.peer,
            )
            old.close()
            self.turn_done()
        else:
            _LOGGER.info("Home Assistant connected from %s", connection.peer)
        return True

    def release(self, connection: HaConnection) -> None:
        if self.owner is connection:
            self.owner = None
            self.turn_done()
            _LOGGER.warning("Home Assistant disconnected; wake words are ignored until it returns")

    def ring_timer(self) -> None:
        """Home Assistant's timer finished: ring TIMER_RING_TIMES times, TIMER_RING_GAP_S
        apart, until the wake word stops it (barge-in) or the rings are done."""
        if self._ringing is not None and not self._ringing.done():
            return  # already ringing: one ring for timers that finish together
        self._ringing = asyncio.create_task(self._ring(), name="satellite timer ring")
        self.tasks.add(self._ringing)
        self._ringing.add_done_callback(self.tasks.discard)

    async def _ring(self) -> None:
        stop = self._ring_stop = asyncio.Event()
        for round_ in range(TIMER_RING_TIMES):
            if round_:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TIMER_RING_GAP_S)
            if stop.is_set():
                return
            await self.speaker.play_wav(self.settings.snd.timer_finished_wav)

    def turn_sent(self) -> None:
        self.answer.bound(self.settings.response_timeout_seconds)

    def turn_done(self) -> None:
        self.answer.clear()

    @property
    def busy(self) -> bool:
        owner = self.owner
        if owner is not None and owner.player.active:
            return True
        return self.answer.pending

    @property
    def answering(self) -> bool:
        """An answer or a timer's ring is playing: the wake word may stop it."""
        if self._ringing is not None and not self._ringing.done():
            return True
        owner = self.owner
        return owner is not None and owner.player.active

    def interrupt(self) -> None:
        """Barge-in: stop the ring or Home Assistant's answer; the new detection starts its
        next run."""
        if self._ringing is not None and not self._ringing.done():
            # Not a task cancel: the sound playing must end through the speaker's abort
            # (a cancelled playback would leave the player process behind).
            self._ring_stop.set()
            self.speaker.interrupt()
        owner = self.owner
        if owner is not None and owner.player.active:
            owner.player.interrupt()

    def take_follow_up(self) -> bool:
        """Home Assistant runs its own follow-ups (it starts the next pipeline itself)."""
        return False

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
        await uplink.send(
            Detection(name=detection.name, timestamp=int(detection.audio_seconds * 1000)).event()
        )
        await uplink.send(
            RunPipeline(
                start_stage=PipelineStage.ASR,
                end_stage=PipelineStage.TTS,
                wake_word_name=detection.name,
            ).event()
        )
        await uplink.send(AudioStart(rate=16000, width=2, channels=1, timestamp=0).event())
        return uplink
