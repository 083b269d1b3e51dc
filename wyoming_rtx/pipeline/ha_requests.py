"""Home Assistant's turn arrives as three requests; record them as one turn.

Home Assistant's Assist pipeline opens a fresh connection for each stage: speech-to-text
(`transcribe`, audio, `audio-stop` → `transcript`), then the conversation (`transcript{text,
context:{conversation_id}}` → `handled`), then text-to-speech (`synthesize{text}`, or a
`synthesize-start` stream when the answer streams). None of them names the others, so they are
joined the way the pipeline chains them: the conversation's text is the transcript Home
Assistant just received from us, and the speech's text is the answer we just gave (a streamed
speech request joins the conversation still answering, or the one answered last). A stage
that nothing follows within `window` seconds ends its turn there (Home Assistant may use
another conversation agent or speech engine), and a request that joins nothing starts a turn
of its own (a typed command, an announcement). Any client that speaks these separate requests
is recorded the same way.

Every request is reported to the TraceLog the moment it finishes (so `/metrics` counts it at
once, ok or not), and each turn is finished exactly once. Pending turns are few and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from .trace import TraceLog, TurnTrace

if TYPE_CHECKING:
    from ..handle.request import Answer

_LOGGER = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

ENTRY = "home-assistant"
HOME_ASSISTANT = "Home Assistant"
"""The name shown for a turn whose request named no satellite."""
JOIN_WINDOW_SECONDS = 30.0
"""How long a stage waits for the next one (Home Assistant chains them within milliseconds;
a slow LLM answer or a person typing is slower, but not this slow)."""
MAX_PENDING = 32
"""Turns waiting for their next stage; past this the oldest ends where it is."""
MAX_KEPT_CHARS = 1000
"""Text kept per turn for the status page (a 20,000-character synthesis is not kept whole)."""


def _never_raises(method: Callable[P, R]) -> Callable[P, R | None]:
    """Recording is bookkeeping beside a request: a bug in it is logged, and the request
    (and the answer its client waits for) goes on. Home Assistant waits forever for an
    answer that never comes."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception:
            _LOGGER.exception("Recording %s failed; the request goes on", method.__qualname__)
            return None

    return guarded


def _same_text(a: str, b: str) -> bool:
    return _squash(a) == _squash(b)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@dataclass
class _Pending:
    trace: TurnTrace
    expires: asyncio.TimerHandle | None = None

    def release(self) -> TurnTrace:
        """Stop its timer: the turn leaves the queue, joined or ended."""
        if self.expires is not None:
            self.expires.cancel()
        return self.trace


@contextlib.contextmanager
def reporting(record: _Record | None) -> Iterator[None]:
    """Around a request's work: a failure or a cancel ends its turn with that outcome (the
    exception goes on); success is the caller's to report, with what it produced."""
    if record is None:
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        record.cancelled()
        raise
    except Exception as err:
        record.failed(err)
        raise


class OpenRecords:
    """The records one connection has opened and not yet ended: when the connection closes,
    each is ended as cancelled, even one whose task was cancelled before it ever ran."""

    def __init__(self) -> None:
        self._records: list[_Record] = []

    def add(self, record: _Record | None) -> None:
        """Track a record (None: recording is off or failed to start; nothing to track)."""
        self._records = [open_ for open_ in self._records if not open_.over]
        if record is not None:
            self._records.append(record)

    def cancel_all(self) -> None:
        for record in self._records:
            record.cancelled()
        self._records.clear()


class HomeAssistantTurns:
    """Joins speech-to-text, conversation and text-to-speech requests into turns."""

    def __init__(self, traces: TraceLog, window: float = JOIN_WINDOW_SECONDS) -> None:
        self.traces = traces
        self.window = window
        self._after_transcript: deque[_Pending] = deque()
        self._answering: list[TurnTrace] = []
        self._after_answer: deque[_Pending] = deque()

    # -- the three requests -------------------------------------------------------------

    @_never_raises
    def speech_to_text(self) -> SpeechToTextRecord:
        """A transcription request opened (audio-start)."""
        trace = self.traces.start(HOME_ASSISTANT, None, entry=ENTRY)
        trace.mark("audio_start")
        return SpeechToTextRecord(self, trace)

    @_never_raises
    def conversation(
        self, text: str, conversation_id: str | None, satellite: str | None, area: str | None
    ) -> ConversationRecord:
        """A conversation request arrived: join the transcription it continues, if any."""
        trace = self._claim(self._after_transcript, lambda t: _same_text(t.transcript, text))
        if trace is None:
            trace = self.traces.start(satellite or HOME_ASSISTANT, area, entry=ENTRY)
            trace.transcript = text
        elif satellite:
            trace.satellite = satellite
        trace.area = trace.area or area
        trace.conversation_id = conversation_id
        trace.mark("handle_start")
        self._answering.append(trace)
        return ConversationRecord(self, trace)

    @_never_raises
    def text_to_speech(self, text: str | None) -> SpeechRecord:
        """A synthesis request opened; `text` is None for a stream whose text is still coming."""
        if text is None:
            trace = self._claim_streaming()
        else:
            trace = self._claim(self._after_answer, lambda t: _same_text(t.answer, text))
        if trace is None:
            trace = self.traces.start(HOME_ASSISTANT, None, entry=ENTRY)
            trace.answer = (text or "")[:MAX_KEPT_CHARS]
        trace.mark("tts_start")
        return SpeechRecord(self, trace)

    # -- bookkeeping ----------------------------------------------------------------------

    def _wait_for_next(self, queue: deque[_Pending], trace: TurnTrace) -> None:
        """Park a turn until its next request joins it, or end it after `window`."""
        pending = _Pending(trace)
        loop = asyncio.get_running_loop()
        pending.expires = loop.call_later(self.window, self._expire, queue, pending)
        queue.append(pending)
        while len(queue) > MAX_PENDING:
            self._end(queue.popleft())

    def _claim(self, queue: deque[_Pending], fits: Callable[[TurnTrace], bool]) -> TurnTrace | None:
        """Take the oldest waiting turn that `fits` out of `queue`."""
        for pending in queue:
            if fits(pending.trace):
                queue.remove(pending)
                return pending.release()
        return None

    def _claim_streaming(self) -> TurnTrace | None:
        """A speech stream follows the conversation still answering, else the last answered."""
        for trace in reversed(self._answering):
            if "tts_start" not in trace.marks:
                return trace
        if self._after_answer:
            return self._after_answer.pop().release()
        return None

    def _expire(self, queue: deque[_Pending], pending: _Pending) -> None:
        if pending in queue:
            queue.remove(pending)
            self._end(pending)

    def _end(self, pending: _Pending) -> None:
        self.traces.finish(pending.release(), "done")

    @property
    def pending(self) -> int:
        """Turns waiting for a next request (tests check this stays bounded)."""
        return len(self._after_transcript) + len(self._answering) + len(self._after_answer)


class _Record:
    """One request's view of its turn. Its methods are bookkeeping beside the request: they
    log their own failures and never raise into it, so the client still gets its answer."""

    service = ""

    def __init__(self, turns: HomeAssistantTurns, trace: TurnTrace) -> None:
        self.turns = turns
        self.trace = trace
        self._over = False

    @property
    def over(self) -> bool:
        """True once the request's outcome is recorded."""
        return self._over

    def _settle(self) -> bool:
        """Mark the outcome recorded; False when it already was (each is recorded once)."""
        if self._over:
            return False
        self._over = True
        return True

    @_never_raises
    def failed(self, error: BaseException | str) -> None:
        """The request failed: the turn ends here with the error."""
        if not self._settle():
            return
        text = error if isinstance(error, str) else f"{error.__class__.__name__}: {error}"
        self._leave()
        self.turns.traces.request_done(self.trace, self.service, "error")
        self.turns.traces.finish(self.trace, "error", text)

    @_never_raises
    def cancelled(self) -> None:
        """The client left before the answer: the turn ends as cancelled."""
        if not self._settle():
            return
        self._leave()
        self.turns.traces.request_done(self.trace, self.service, "cancelled")
        self.turns.traces.finish(self.trace, "cancelled")

    def _leave(self) -> None:
        """Forget the turn wherever it waits (only the conversation stage waits while open)."""


class SpeechToTextRecord(_Record):
    """The transcription request of a turn."""

    service = "asr"

    @_never_raises
    def end_of_speech(self, at: float | None = None) -> None:
        """audio-stop arrived: the speaker has finished (Home Assistant's VAD decided)."""
        self.trace.mark("end_of_speech", at)

    @_never_raises
    def transcript(self, text: str) -> None:
        """The transcript is being sent; the turn now waits for its conversation request."""
        if not self._settle():
            return
        self.trace.mark("end_of_speech")
        self.trace.mark("transcript")
        self.trace.transcript = text
        self.turns.traces.request_done(self.trace, "asr")
        if not text.strip():
            self.turns.traces.finish(self.trace, "done")  # nothing said: nothing will follow
            return
        self.turns._wait_for_next(self.turns._after_transcript, self.trace)


class ConversationRecord(_Record):
    """The conversation (handle) request of a turn."""

    service = "handle"

    @_never_raises
    def answer(self, answer: Answer) -> None:
        """The final answer is being sent; the turn now waits for its speech request."""
        self.trace.conversation_id = answer.conversation_id or self.trace.conversation_id
        self._answered(answer.text, answer.source, answer.handled)

    @_never_raises
    def intent(self, name: str) -> None:
        """Intent mode: Home Assistant executes the intent and speaks its own answer."""
        self._answered(f"intent {name}", "local", True)

    def _answered(self, text: str, source: str, handled: bool) -> None:
        if not self._settle():
            return
        trace = self.trace
        trace.mark("answer_text")
        trace.answer, trace.source, trace.handled = text, source, handled
        self.turns.traces.request_done(trace, "handle")
        self._leave()
        if "tts" in trace.requests:
            self.turns.traces.finish(trace, "done")  # its speech stream already ended
        elif "tts_start" not in trace.marks:
            self.turns._wait_for_next(self.turns._after_answer, trace)
        # else a speech stream joined and is still speaking: it finishes the turn

    def _leave(self) -> None:
        if self.trace in self.turns._answering:
            self.turns._answering.remove(self.trace)


class SpeechRecord(_Record):
    """The text-to-speech request of a turn: it ends the turn."""

    service = "tts"

    @_never_raises
    def text(self, text: str) -> None:
        """A lone streamed request learns its text once it is all there."""
        if not self.trace.answer:
            self.trace.answer = text[:MAX_KEPT_CHARS]

    @_never_raises
    def first_audio(self, at: float | None = None) -> None:
        """The first audio-chunk of the answer was written."""
        self.trace.mark("first_audio", at)

    @_never_raises
    def done(self) -> None:
        """audio-stop was written: the turn is over (unless its conversation still runs)."""
        if not self._settle():
            return
        self.trace.mark("last_audio", time.monotonic())
        self.turns.traces.request_done(self.trace, "tts")
        if self.trace in self.turns._answering:
            return  # the conversation's answer will come; ConversationRecord leaves it
        self.turns.traces.finish(self.trace, "done")
