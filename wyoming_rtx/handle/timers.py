"""Timers kept by the server ("set a timer for 5 minutes"), one asyncio task each.

The server keeps them (not HA) because a direct satellite has no HA to ask; the attributes
exposed on `Timer` are the ones the home-assistant-intents HassTimerStatus template reads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

_LOGGER = logging.getLogger(__name__)

TimerCallback = Callable[["Timer"], Awaitable[None] | None]
TimerChange = Callable[[str, "Timer"], None]
"""Told "started", "updated" (paused, resumed) or "cancelled" with the timer, at once."""


@dataclass
class Timer:
    """One timer; `*_left` values are for speaking, rounded like HA's timer manager."""

    timer_id: str
    seconds: int
    name: str | None = None
    area: str | None = None
    conversation_id: str | None = None
    satellite_id: str | None = None
    """The direct satellite that set it: where it rings (None: set through Home Assistant)."""
    started: float = field(default_factory=time.monotonic)
    paused_left: float | None = None
    clock: Callable[[], float] = time.monotonic

    @property
    def is_active(self) -> bool:
        """False while paused."""
        return self.paused_left is None

    @property
    def total_seconds_left(self) -> int:
        """Whole seconds until it rings."""
        if self.paused_left is not None:
            return int(round(self.paused_left))
        return max(0, int(round(self.started + self.seconds - self.clock())))

    @property
    def rounded_hours_left(self) -> int:
        """Hours part of the time left."""
        return self.total_seconds_left // 3600

    @property
    def rounded_minutes_left(self) -> int:
        """Minutes part of the time left."""
        return (self.total_seconds_left % 3600) // 60

    @property
    def rounded_seconds_left(self) -> int:
        """Seconds part of the time left."""
        return self.total_seconds_left % 60

    @property
    def start_hours(self) -> int:
        """Hours part of the original duration ("the 1 hour timer")."""
        return self.seconds // 3600

    @property
    def start_minutes(self) -> int:
        """Minutes part of the original duration."""
        return (self.seconds % 3600) // 60

    @property
    def start_seconds(self) -> int:
        """Seconds part of the original duration."""
        return self.seconds % 60


class TimerManager:
    """Starts, cancels and reports timers; calls `on_finished` when one rings."""

    def __init__(
        self,
        on_finished: TimerCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: TimerChange | None = None,
    ) -> None:
        self.on_finished = on_finished
        self.on_change = on_change
        self._clock = clock
        self._timers: dict[str, Timer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ids = itertools.count(1)

    @property
    def timers(self) -> list[Timer]:
        """Running and paused timers, soonest first."""
        return sorted(self._timers.values(), key=lambda t: t.total_seconds_left)

    def start(
        self,
        seconds: int,
        name: str | None = None,
        area: str | None = None,
        conversation_id: str | None = None,
        satellite_id: str | None = None,
    ) -> Timer:
        """Start a timer; it rings (on_finished) after `seconds`."""
        timer = Timer(
            f"timer-{next(self._ids)}",
            max(1, int(seconds)),
            name=name,
            area=area,
            conversation_id=conversation_id,
            satellite_id=satellite_id,
            started=self._clock(),
            clock=self._clock,
        )
        self._timers[timer.timer_id] = timer
        self._schedule(timer, timer.seconds)
        _LOGGER.info(
            "Timer %s started: %s s (name=%s, area=%s)", timer.timer_id, seconds, name, area
        )
        self._changed("started", timer)
        return timer

    def _changed(self, kind: str, timer: Timer) -> None:
        """Tell the listener; its failure is logged, never the intent's failure."""
        if self.on_change is None:
            return
        try:
            self.on_change(kind, timer)
        except Exception:
            _LOGGER.exception("Timer %s callback failed", kind)

    def _schedule(self, timer: Timer, delay: float) -> None:
        task = asyncio.create_task(self._ring(timer, delay), name=f"timer {timer.timer_id}")
        self._tasks[timer.timer_id] = task

    async def _ring(self, timer: Timer, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timers.pop(timer.timer_id, None)
        self._tasks.pop(timer.timer_id, None)
        _LOGGER.info("Timer %s finished (name=%s, area=%s)", timer.timer_id, timer.name, timer.area)
        if self.on_finished is not None:
            try:
                result = self.on_finished(timer)
                if result is not None:
                    await result
            except Exception:
                _LOGGER.exception("Timer finished callback failed")

    def find(
        self,
        name: str | None = None,
        area: str | None = None,
        start_seconds: int | None = None,
    ) -> list[Timer]:
        """Timers matching the spoken constraints (all timers when none are given)."""
        found = list(self.timers)
        if name:
            found = [t for t in found if t.name and t.name.strip().lower() == name.strip().lower()]
        if area:
            found = [t for t in found if t.area and t.area.lower() == area.lower()]
        if start_seconds is not None:
            found = [t for t in found if t.seconds == start_seconds]
        return found

    def cancel(self, timer: Timer) -> None:
        """Stop a timer without ringing."""
        self._timers.pop(timer.timer_id, None)
        task = self._tasks.pop(timer.timer_id, None)
        if task is not None:
            task.cancel()
        _LOGGER.info("Timer %s cancelled", timer.timer_id)
        self._changed("cancelled", timer)

    def pause(self, timer: Timer) -> None:
        """Freeze the time left."""
        if timer.is_active:
            timer.paused_left = float(timer.total_seconds_left)
            task = self._tasks.pop(timer.timer_id, None)
            if task is not None:
                task.cancel()
            self._changed("updated", timer)

    def resume(self, timer: Timer) -> None:
        """Continue a paused timer."""
        if timer.paused_left is not None:
            left = timer.paused_left
            timer.paused_left = None
            timer.started = self._clock() - (timer.seconds - left)
            self._schedule(timer, left)
            self._changed("updated", timer)

    async def stop(self) -> None:
        """Cancel every timer task (server shutdown)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._timers.clear()
