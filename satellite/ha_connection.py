"""One Home Assistant connection (DESIGN §3): the events it sends and answers, and a turn's
audio up it.

HA's side (``homeassistant/components/wyoming/assist_satellite.py``): it connects, sends
``run-satellite`` and ``describe``, pings every ~2 s and reconnects after 5 s of silence. On a
wake word we send ``detection`` then ``run-pipeline{asr→tts}`` and stream the turn; HA answers
with pipeline events (``transcript``, ``synthesize``, ``error``…) and the 22050 Hz answer as
``audio-start``/``audio-chunk``*/``audio-stop``, and waits for ``played``.

A connection answers ``describe`` itself; anything else it handles only once its
``ConnectionOwner`` (``HaSatellite``, the listening server, which decides who owns the
satellite) lets it claim the satellite. A connection knows the server only through that
protocol, so this module never imports the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Protocol

from wyoming.asr import Transcript
from wyoming.audio import AudioStart
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize

from .audio_out import AnswerPlayer, Speaker
from .settings import HaSettings
from .uplink import Uplink

_LOGGER = logging.getLogger(__name__)

_KEEPALIVE = (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
"""A silent peer is probed after 10 s and dropped after 3 unanswered probes 5 s apart."""


def _enable_keepalive(writer: asyncio.StreamWriter) -> None:
    """Let the kernel find a vanished peer on a silent connection (a paused owner)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE:
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class ConnectionOwner(Protocol):
    """What a connection needs from the server that decides who owns the satellite."""

    info: Info
    """The satellite's ``info``: the answer to ``describe``, which needs no claim."""
    speaker: Speaker
    """Plays the answers that come in on this connection."""
    tasks: set[asyncio.Task]
    """The server's background tasks: the answer player's join them, so ``stop()`` ends them."""
    ha: HaSettings
    """The Home Assistant settings: a connection quiet for ``hold_seconds`` is no longer alive."""
    owner: HaConnection | None
    """The connection that holds the satellite now: a turn goes up no other one."""
    transcripts: list[str]
    """Each ``transcript`` Home Assistant sends (what it heard) is appended here."""
    errors: list[Error]
    """Each ``error`` Home Assistant sends is appended here."""
    timers_finished: int
    """Counts Home Assistant's ``timer-finished`` events."""

    async def claim(self, connection: HaConnection) -> bool:
        """Make `connection` the owner; False when a live owner holds the satellite."""
        ...

    async def refuse_busy(self, connection: HaConnection) -> None:
        """Tell a newcomer that could not claim the satellite who holds it, and close it."""
        ...

    def release(self, connection: HaConnection) -> None:
        """`connection` ended: if it was the owner, the satellite is free again."""
        ...

    def turn_sent(self) -> None:
        """The turn's ``audio-stop`` went up: the answer is awaited for a bounded time now."""
        ...

    def turn_done(self) -> None:
        """No answer is awaited any more (it started playing, failed, or cannot come)."""
        ...

    def ring_timer(self) -> None:
        """A Home Assistant timer finished: ring."""
        ...


class HaConnection:
    """One TCP connection from Home Assistant (or a describe probe)."""

    def __init__(
        self,
        satellite: ConnectionOwner,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.satellite = satellite
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.running = False
        """HA said ``run-satellite`` (and not ``pause-satellite`` since)."""
        self.paused = False
        """HA said ``pause-satellite`` (and not ``run-satellite`` since): it stops pinging."""
        self.last_event = time.monotonic()
        self.ended = asyncio.Event()
        self.player = AnswerPlayer(satellite.speaker, self._send_played, satellite.tasks)

    def alive(self) -> bool:
        """Whether this owner keeps newcomers out (see ``HaSatellite``'s module docstring)."""
        if self.ended.is_set() or self.writer.is_closing():
            return False
        quiet = time.monotonic() - self.last_event
        return self.paused or quiet < self.satellite.ha.hold_seconds

    async def write(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def _send_played(self) -> None:
        self.satellite.turn_done()
        await self.write(Played().event())

    async def run(self) -> None:
        try:
            while (event := await async_read_event(self.reader)) is not None:
                self.last_event = time.monotonic()
                if not await self._handle(event):
                    break
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Connection %s failed: %r", self.peer, err)
        finally:
            self.ended.set()
            self.player.cancel()
            self.satellite.release(self)
            self.writer.close()

    def close(self) -> None:
        self.player.cancel()
        self.writer.close()
        self.reader.feed_eof()

    async def _handle(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write(self.satellite.info.event())
            return True
        if not await self.satellite.claim(self):
            await self.satellite.refuse_busy(self)
            return False
        if Ping.is_type(event.type):
            await self.write(Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(event.type):
            self.running, self.paused = True, False
            _LOGGER.info("Home Assistant is running the satellite")
        elif PauseSatellite.is_type(event.type):
            self.running, self.paused = False, True
            self.satellite.turn_done()
            _LOGGER.info("Home Assistant paused the satellite")
        elif self.player.handle_event(event):
            if AudioStart.is_type(event.type):
                self.satellite.turn_done()  # the player now mutes the wake word
        elif Error.is_type(event.type):
            error = Error.from_event(event)
            _LOGGER.warning("Home Assistant error %s: %s", error.code, error.text)
            self.satellite.errors.append(error)
            if not self.player.active:
                self.satellite.turn_done()
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
            self.satellite.ring_timer()
        else:
            _LOGGER.debug("Pipeline event from Home Assistant: %s", event.type)
        return True


class HaUplink(Uplink):
    """One turn's audio streamed to the owning HA connection (``detection`` to ``audio-stop``).

    A lost, replaced or paused connection drops the rest of the turn quietly. Home Assistant
    ends the stream with its own VAD when it is slower than ours: the satellite's rule decides
    here (its voice-started/-stopped only follow along).
    """

    def __init__(self, connection: HaConnection) -> None:
        super().__init__(connection.satellite.turn_sent)
        self.connection = connection

    async def _write(self, event: Event) -> None:
        satellite = self.connection.satellite
        if satellite.owner is not self.connection or not self.connection.running:
            self.drop()  # replaced or paused mid-turn: the rest goes nowhere
            return
        await self.connection.write(event)

    def _lost(self, err: Exception) -> None:
        _LOGGER.debug("Turn dropped, Home Assistant link lost: %r", err)
