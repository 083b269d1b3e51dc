"""One turn's audio on its way to the peer, for both transports.

Home Assistant mode (``ha_connection.HaUplink``) and direct mode (``direct.DirectUplink``) send
a turn the same way: timestamped 16 kHz ``audio-chunk`` events as the mic delivers them,
``audio-stop`` at the local end of speech, and a lost link drops the rest of the turn quietly
(the transport's own connection handling reports the outage). ``Uplink`` is that shared part,
and it satisfies ``core.TurnUplink``; each transport adds only how an event goes up its link
(``_write``), which errors mean that link is lost (``LINK_LOST``) and how that is logged
(``_lost``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from wyoming.audio import AudioChunk, AudioStop
from wyoming.event import Event

from wyoming_rtx.audio.endpoint import EndReason


class Uplink(ABC):
    """A turn's events up one transport's link; the first lost write ends the turn's sending."""

    LINK_LOST: ClassVar[tuple[type[Exception], ...]] = (ConnectionError, OSError)
    """Write errors that mean the link is gone: the turn is dropped, nothing is raised."""

    def __init__(self, turn_sent: Callable[[], None]) -> None:
        self._turn_sent = turn_sent
        """Told after ``audio-stop``: the transport now waits a bounded time for the answer."""
        self._timestamp = 0
        self._ok = True
        self.server_judges = False
        self.server_ended = False
        self.on_server_end: Callable[[], None] | None = None

    @abstractmethod
    async def _write(self, event: Event) -> None:
        """Write `event` to the peer (or call ``drop`` when the turn must go no further)."""

    @abstractmethod
    def _lost(self, err: Exception) -> None:
        """The link failed on a write (one of ``LINK_LOST``): log it."""

    def drop(self) -> None:
        """Send nothing more of this turn."""
        self._ok = False

    async def send(self, event: Event) -> None:
        """Send `event` up unless the turn was dropped; a lost link drops the rest of it."""
        if not self._ok:
            return
        try:
            await self._write(event)
        except self.LINK_LOST as err:
            self._ok = False
            self._lost(err)

    async def audio(self, pcm: bytes) -> None:
        chunk = AudioChunk(rate=16000, width=2, channels=1, audio=pcm, timestamp=self._timestamp)
        self._timestamp += chunk.milliseconds
        await self.send(chunk.event())

    async def end(self, reason: EndReason) -> None:
        await self.send(AudioStop(timestamp=self._timestamp).event())
        self._turn_sent()
