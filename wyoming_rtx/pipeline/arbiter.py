"""One answer per wake word: when several direct satellites hear it, the nearest one answers.

Two satellites in neighbouring rooms both hear "Hey Jarvis" and both stream the turn; without
this, both answer (and both may act). Turns that start within `WINDOW_S` of each other form a
group. Every turn in the group runs from the start (the audio is transcribed as it comes, so
the winner loses no time); when the window closes, the satellite whose speech was loudest
(RMS of the audio it sent, a proxy for distance that needs nothing from the satellite) keeps its
turn and the others are told to stand down (`error` with code `stand-down`) and their turns
are cancelled before anything is said or done: a turn whose speech ends inside the window
waits for the decision before it answers (commands rarely end that soon after the wake word).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

_LOGGER = logging.getLogger(__name__)

WINDOW_S = 0.7
"""Home Assistant's satellites hear one wake word well within this (network and detection
jitter is tens of ms); a command is longer, so the decision comes before the end of speech."""


class Contender(Protocol):
    """A satellite whose turn just started."""

    @property
    def name(self) -> str:
        """For the log."""

    def loudness(self) -> float:
        """Mean square of the turn's audio so far (0 when none arrived yet)."""

    def stand_down(self) -> None:
        """Cancel the turn and tell the satellite another one answers."""

    def release(self) -> None:
        """The turn may act: it won, or it was alone (its end of speech waits for this)."""


@dataclass
class _Group:
    contenders: list[Contender] = field(default_factory=list)


class WakeArbiter:
    """Groups turns that start together and keeps only the loudest one."""

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        self.stood_down = 0
        """Turns told to stand down, for tests and the log."""
        self._open: _Group | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def join(self, contender: Contender) -> None:
        """A turn started: join the open group, or open one and decide when it closes."""
        if self._open is not None:
            self._open.contenders.append(contender)
            return
        group = _Group([contender])
        self._open = group
        task = asyncio.create_task(self._decide(group), name="wake arbitration")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, group: _Group) -> None:
        await asyncio.sleep(self.window)
        self._open = None
        if len(group.contenders) < 2:
            group.contenders[0].release()
            return
        levels = [(c.loudness(), i, c) for i, c in enumerate(group.contenders)]
        # The loudest wins; on a tie, the first to start (it has the most audio already).
        _, _, winner = max(levels, key=lambda item: (item[0], -item[1]))
        for _, _, contender in levels:
            if contender is winner:
                continue
            self.stood_down += 1
            contender.stand_down()
        winner.release()
        _LOGGER.info(
            "Wake word heard by %s: %s answers (levels %s)",
            ", ".join(c.name for c in group.contenders),
            winner.name,
            ", ".join(f"{c.name} {level:.0f}" for level, _, c in levels),
        )

    async def close(self) -> None:
        """Server shutdown: drop pending decisions."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
