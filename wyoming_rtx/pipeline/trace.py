"""Per-turn timing: what users feel is end of speech → first answer audio, by stage.

Every direct-satellite (and browser) turn records monotonic timestamps at each stage;
finished traces go to a bounded in-memory history (for the status page), one INFO log
line, and Prometheus histograms (`/metrics`). Nothing here blocks or grows without end.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

_LOGGER = logging.getLogger(__name__)

STAGES = (
    "audio_start",
    "end_of_speech",
    "transcript",
    "answer_text",
    "first_audio",
    "last_audio",
    "played",
)
"""Timestamps recorded per turn, in the order they normally happen."""

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


@dataclass
class TurnTrace:
    """One turn; `marks` holds monotonic seconds per stage."""

    turn_id: int
    satellite: str
    area: str | None
    started_wall: float = field(default_factory=time.time)
    marks: dict[str, float] = field(default_factory=dict)
    transcript: str = ""
    answer: str = ""
    source: str = ""
    """local | llm | none | error"""
    outcome: str = "running"
    """running | done | cancelled | error"""
    error: str | None = None

    def mark(self, stage: str, at: float | None = None) -> None:
        """Record a stage once (the first time it happens)."""
        self.marks.setdefault(stage, time.monotonic() if at is None else at)

    def since_end_of_speech(self, stage: str) -> float | None:
        """Seconds from end of speech to `stage`, the clock the user feels."""
        end = self.marks.get("end_of_speech")
        at = self.marks.get(stage)
        return None if end is None or at is None else at - end

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with stage offsets in ms relative to the end of speech."""
        data = asdict(self)
        data["ms_after_end_of_speech"] = {
            stage: round(value * 1000, 1)
            for stage in STAGES
            if (value := self.since_end_of_speech(stage)) is not None
        }
        return data


class TraceLog:
    """Bounded history of finished turns, plus listeners (metrics, live status page)."""

    def __init__(self, max_turns: int = 200) -> None:
        self.turns: deque[TurnTrace] = deque(maxlen=max_turns)
        self._next_id = 1
        self._listeners: list[Callable[[TurnTrace], None]] = []

    def start(self, satellite: str, area: str | None) -> TurnTrace:
        """A new turn with the next id."""
        trace = TurnTrace(turn_id=self._next_id, satellite=satellite, area=area)
        self._next_id += 1
        return trace

    def subscribe(self, listener: Callable[[TurnTrace], None]) -> Callable[[], None]:
        """Call `listener` for every finished turn; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def finish(self, trace: TurnTrace, outcome: str, error: str | None = None) -> None:
        """Store the turn, log one line, notify listeners (a bad listener is logged only)."""
        trace.outcome = outcome
        trace.error = error
        self.turns.append(trace)
        ms = trace.to_dict()["ms_after_end_of_speech"]
        _LOGGER.info(
            "Turn %d %s/%s %s (%s): transcript %s ms, first audio %s ms | %r → %r",
            trace.turn_id,
            trace.satellite,
            trace.area or "-",
            outcome,
            trace.source or "-",
            ms.get("transcript", "-"),
            ms.get("first_audio", "-"),
            trace.transcript,
            trace.answer,
        )
        for listener in list(self._listeners):
            try:
                listener(trace)
            except Exception:
                _LOGGER.exception("Turn listener failed")
