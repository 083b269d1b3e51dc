"""Per-turn timing: what users feel is end of speech → first answer audio, by stage.

Every turn records monotonic timestamps at each stage, whichever way it arrived: a direct
satellite or the browser runs the whole turn here, while Home Assistant sends speech-to-text,
conversation and text-to-speech as three requests that `ha_requests` stitches into one turn.
Each finished request (`asr`, `handle`, `tts`) is reported as it finishes, so `/metrics` counts
it at once; each finished turn goes to a bounded in-memory history (the status page), one INFO
log line, and the listeners (metrics, live page). Nothing here blocks or grows without end.
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
    "handle_start",
    "answer_text",
    "tts_start",
    "first_audio",
    "last_audio",
    "played",
)
"""Timestamps recorded per turn, in the order they normally happen. `handle_start` and
`tts_start` are set only where a request arrives separately (Home Assistant's path), so the
time Home Assistant itself spends between our requests shows as a gap, not as our stage."""

SERVICES = ("asr", "handle", "tts")
"""The three requests a turn is made of; `/metrics` counts each one."""

ENTRIES = ("satellite", "browser", "home-assistant")
"""How a turn reached the server."""

OUTCOMES = ("running", "done", "not-handled", "cancelled", "error")
"""done: answered; not-handled: an answer that says it could not do it ("Sorry, I am not aware
of any area called attic"); cancelled: the client left or started another turn; error: a
stage failed."""

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

_STAGE_SPANS: dict[str, tuple[tuple[str, ...], str]] = {
    "asr": (("end_of_speech",), "transcript"),
    "handle": (("handle_start", "transcript"), "answer_text"),
    "tts": (("tts_start", "answer_text"), "first_audio"),
}
"""Service → (where its stage starts, first mark present wins; where it ends)."""


@dataclass
class TurnTrace:
    """One turn; `marks` holds monotonic seconds per stage."""

    turn_id: int
    satellite: str
    area: str | None
    entry: str = "satellite"
    """satellite | browser | home-assistant"""
    started_wall: float = field(default_factory=time.time)
    marks: dict[str, float] = field(default_factory=dict)
    transcript: str = ""
    answer: str = ""
    source: str = ""
    """local | llm | none | error"""
    handled: bool | None = None
    """The answer's own verdict: False for "Sorry, I didn't understand" and failed commands."""
    outcome: str = "running"
    error: str | None = None
    conversation_id: str | None = None
    requests: dict[str, str] = field(default_factory=dict)
    """Service → outcome of each request this turn made (ok | error | cancelled)."""
    end_of_turn: str = ""
    """Who ended the user's turn and why: the server's ``complete`` (judged at a pause),
    ``silence``, ``max_length``, ``no_speech``, or ``client`` (the satellite's own rule)."""
    draft: str = ""
    """An LLM answer started before the turn was over: ``kept`` (the final transcript said
    the same words, so it was spoken), ``dropped`` (it was not), or "" (none started)."""

    def mark(self, stage: str, at: float | None = None) -> None:
        """Record a stage once (the first time it happens)."""
        self.marks.setdefault(stage, time.monotonic() if at is None else at)

    @property
    def origin(self) -> str | None:
        """The stage the clock starts from: the end of speech, else the first thing recorded
        (a typed command or a lone text-to-speech request has no speech)."""
        if "end_of_speech" in self.marks:
            return "end_of_speech"
        return min(self.marks, key=self.marks.__getitem__) if self.marks else None

    def since_end_of_speech(self, stage: str) -> float | None:
        """Seconds from end of speech to `stage`, the clock the user feels."""
        end = self.marks.get("end_of_speech")
        at = self.marks.get(stage)
        return None if end is None or at is None else at - end

    def stage_seconds(self, service: str) -> float | None:
        """How long our own stage took (asr: audio-stop → transcript; handle: request →
        answer; tts: request → first audio), or None when it did not run or finish."""
        starts, end = _STAGE_SPANS[service]
        for start in starts:
            if start in self.marks and end in self.marks:
                return max(0.0, self.marks[end] - self.marks[start])
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with stage offsets in ms relative to the end of speech (or, for a turn
        without speech, to its first stage; `clock` says which)."""
        data = asdict(self)
        origin = self.origin
        zero = self.marks.get(origin) if origin else None
        data["clock"] = origin
        data["ms_after_end_of_speech"] = {
            stage: round((self.marks[stage] - zero) * 1000, 1)
            for stage in STAGES
            if stage in self.marks and zero is not None
        }
        data["stage_ms"] = {
            service: round(seconds * 1000, 1)
            for service in SERVICES
            if (seconds := self.stage_seconds(service)) is not None
        }
        return data


TurnListener = Callable[[TurnTrace], None]
RequestListener = Callable[[TurnTrace, str, str, float | None], None]
"""(trace, service, outcome, seconds of our own stage or None)."""


class TraceLog:
    """Bounded history of finished turns, plus listeners (metrics, live status page)."""

    def __init__(self, max_turns: int = 200) -> None:
        self.turns: deque[TurnTrace] = deque(maxlen=max_turns)
        self._next_id = 1
        self._listeners: list[TurnListener] = []
        self._request_listeners: list[RequestListener] = []

    def start(self, satellite: str, area: str | None, entry: str = "satellite") -> TurnTrace:
        """A new turn with the next id."""
        trace = TurnTrace(turn_id=self._next_id, satellite=satellite, area=area, entry=entry)
        self._next_id += 1
        return trace

    def subscribe(self, listener: TurnListener) -> Callable[[], None]:
        """Call `listener` for every finished turn; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def subscribe_requests(self, listener: RequestListener) -> Callable[[], None]:
        """Call `listener` for every finished request (asr, handle, tts) of any turn."""
        self._request_listeners.append(listener)
        return lambda: self._request_listeners.remove(listener)

    def request_done(self, trace: TurnTrace, service: str, outcome: str = "ok") -> None:
        """One request of `trace` finished: remember its outcome and tell the listeners."""
        if service in trace.requests:
            return  # each request is reported once, whatever path ends it
        trace.requests[service] = outcome
        seconds = trace.stage_seconds(service) if outcome == "ok" else None
        for listener in list(self._request_listeners):
            try:
                listener(trace, service, outcome, seconds)
            except Exception:
                _LOGGER.exception("Request listener failed")

    def finish(self, trace: TurnTrace, outcome: str, error: str | None = None) -> None:
        """Store the turn, log one line, notify listeners (a bad listener is logged only)."""
        if trace.outcome != "running":
            return  # already finished (a turn can be ended by its answer and by a time-out)
        if outcome == "done" and trace.handled is False:
            outcome = "not-handled"
        trace.outcome = outcome
        trace.error = error
        self.turns.append(trace)
        ms = trace.to_dict()["ms_after_end_of_speech"]
        _LOGGER.info(
            "Turn %d %s %s/%s %s (%s): transcript %s ms, first audio %s ms | %r → %r",
            trace.turn_id,
            trace.entry,
            trace.satellite,
            trace.area or "-",
            outcome,
            trace.source or "-",
            ms.get("transcript", "-"),
            ms.get("first_audio", "-"),
            _short(trace.transcript),
            _short(trace.answer),
        )
        for listener in list(self._listeners):
            try:
                listener(trace)
            except Exception:
                _LOGGER.exception("Turn listener failed")


def _short(text: str, limit: int = 160) -> str:
    """One log line stays one readable line, whatever was said or spoken."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
