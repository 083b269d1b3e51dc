"""Timers that ring on the direct satellite that set them.

Home Assistant tells its satellites about timers with Wyoming's `timer-started`,
`timer-updated`, `timer-cancelled` and `timer-finished`; the server does the same for the
direct satellites whose timers it keeps. When one finishes, the satellite also hears it: a
chime and "The pasta timer is done." (or "Your timer for 5 minutes is done.") as one audio
stream (the satellite plays it as it plays an answer), repeated `RING_TIMES` times
`RING_GAP_S` apart. It stops early when that satellite starts a turn (its wake word: someone
heard it) or leaves. Announcements (`announce.py`) use the same chime and audio path.

Timers live in the server's memory: a satellite that reconnects under the same name still gets
its ring (the link is looked up when it rings); a server restart forgets them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from wyoming.audio import AudioStart, AudioStop
from wyoming.event import Event
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated

from ..audio.convert import audio_chunks

if TYPE_CHECKING:
    from ..handle.timers import Timer
    from ..tts.engine import TtsEngine

_LOGGER = logging.getLogger(__name__)

RING_TIMES = 4
RING_GAP_S = 3.0
"""Four rings 3 s apart: about 20 s of ringing, bounded, with gaps for the wake word (the
satellite does not listen for it while it plays)."""
IDLE_WAIT_S = 30.0
"""A ring waits this long for a turn in progress on that satellite to end (never mixed into
an answer's audio stream); then it rings anyway on the next round."""


class SatelliteLink(Protocol):
    """A connected direct satellite, as the bell and announcements need it."""

    @property
    def area(self) -> str | None:
        """The area the satellite announced (None: none)."""

    @property
    def idle(self) -> bool:
        """No turn in progress (its audio would interleave with a ring)."""

    async def send(self, event: Event) -> None:
        """Write one event to the satellite."""


def chime_pcm(rate: int) -> bytes:
    """Two falling tones (E6, A5) with soft edges: 16-bit mono at `rate`, ~0.5 s."""
    pieces = []
    for frequency, seconds in ((1318.5, 0.18), (880.0, 0.32)):
        t = np.arange(int(rate * seconds)) / rate
        envelope = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.08))
        pieces.append(0.3 * envelope * np.sin(2 * math.pi * frequency * t))
    pieces.append(np.zeros(int(rate * 0.15)))
    return (np.concatenate(pieces) * 32767).astype("<i2").tobytes()


def _duration(seconds: int) -> str:
    """ "5 minutes", "1 hour and 30 minutes", "45 seconds"."""
    parts = []
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " and ".join(parts) or "0 seconds"


def ring_sentence(timer: Timer) -> str:
    """What the satellite says: the timer's name when it has one, else its length."""
    if timer.name:
        return f"The {timer.name} timer is done."
    return f"Your timer for {_duration(timer.seconds)} is done."


class TimerBell:
    """Tells direct satellites about their timers and rings them when one finishes."""

    def __init__(self) -> None:
        self.links: dict[str, SatelliteLink] = {}
        """Connected direct satellites by name (the pipeline's sessions register here)."""
        self.tts: TtsEngine | None = None
        self.rings = 0
        """Rings played, for tests and the log."""
        self._ringing: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def changed(self, kind: str, timer: Timer) -> None:
        """TimerManager's on_change: started, updated or cancelled, told to its satellite."""
        if kind == "started":
            event = TimerStarted(
                id=timer.timer_id,
                total_seconds=timer.seconds,
                name=timer.name,
                start_hours=timer.start_hours,
                start_minutes=timer.start_minutes,
                start_seconds=timer.start_seconds,
            ).event()
        elif kind == "updated":
            event = TimerUpdated(
                id=timer.timer_id, is_active=timer.is_active, total_seconds=timer.total_seconds_left
            ).event()
        else:
            event = TimerCancelled(id=timer.timer_id).event()
        self._spawn(self._tell(timer, event), f"timer {kind}")

    async def finished(self, timer: Timer) -> None:
        """TimerManager's on_finished: `timer-finished`, then the ring (in its own task)."""
        name = timer.satellite_id
        if name is None:
            return
        await self._tell(timer, TimerFinished(id=timer.timer_id).event())
        self.silence(name)
        task = asyncio.create_task(self._ring(timer, name), name=f"timer ring {name}")
        self._ringing[name] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def silence(self, name: str) -> None:
        """Stop a ring on this satellite (its wake word was heard, or it left)."""
        task = self._ringing.pop(name, None)
        if task is not None and not task.done():
            task.cancel()
            _LOGGER.info("Timer ring on %s stopped", name)

    async def close(self) -> None:
        """Server shutdown: stop every ring and message in flight."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, timer: Timer, event: Event) -> None:
        """Send a timer event to the satellite that set it, when it is connected."""
        link = self.links.get(timer.satellite_id) if timer.satellite_id else None
        if link is None:
            return
        try:
            await link.send(event)
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Timer event %s not sent to %s: %r", event.type, timer.satellite_id, err)

    async def _ring(self, timer: Timer, name: str) -> None:
        sentence = ring_sentence(timer)
        _LOGGER.info("Timer %s rings on %s: %r", timer.timer_id, name, sentence)
        try:
            audio, rate = await render_with_chime(self.tts, sentence)
            for round_ in range(RING_TIMES):
                if round_:
                    await asyncio.sleep(RING_GAP_S)
                link = self.links.get(name)
                if link is None:
                    _LOGGER.warning(
                        "Timer %s finished but %s is not connected", timer.timer_id, name
                    )
                    return
                await wait_idle(link)
                await play(link, audio, rate)
                self.rings += 1
        except (ConnectionError, OSError) as err:
            _LOGGER.info("Timer ring on %s ended: %r", name, err)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("Timer ring on %s failed", name)
        finally:
            if self._ringing.get(name) is asyncio.current_task():
                del self._ringing[name]


async def render_with_chime(tts: TtsEngine | None, sentence: str) -> tuple[bytes, int]:
    """The chime, then the sentence, at the voice's rate (the chime alone without TTS)."""
    if tts is None:
        return chime_pcm(22050), 22050
    # Played only once all of it is rendered: whole sentences cost least.
    pieces = [piece async for piece in tts.synthesize(sentence, first_clause=False)]
    rate = pieces[0].rate if pieces else tts.default_voice.sample_rate
    return chime_pcm(rate) + b"".join(piece.pcm for piece in pieces), rate


async def wait_idle(link: SatelliteLink, limit: float = IDLE_WAIT_S) -> None:
    """Until the satellite's turn in progress ends (bounded): never mix into its answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not link.idle and loop.time() < deadline:  # noqa: ASYNC110 - a turn has no event
        await asyncio.sleep(0.2)


async def play(link: SatelliteLink, pcm: bytes, rate: int) -> None:
    """One audio stream to the satellite, which plays it as it plays an answer."""
    await link.send(AudioStart(rate=rate, width=2, channels=1).event())
    for chunk in audio_chunks(rate, 2, 1, pcm):
        await link.send(chunk.event())
    await link.send(AudioStop().event())
