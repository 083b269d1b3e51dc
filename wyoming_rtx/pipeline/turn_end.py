"""The server ends a direct turn when the utterance is complete, not after a fixed silence.

The server has what a satellite lacks: the speculative transcript of each pause and the home
that says whether it is a command. So in direct mode it decides (``--end-of-turn smart``):
at every pause the speech-to-text stream starts a decode (``DECODE_PAUSE_SECONDS`` of
silence), and ``pause_wait`` judges what it heard: a command the home understands ends the
turn now; a transcript that reads as cut off, or a command's start that is no command yet,
waits longer for the rest; anything else ends when Smart Turn calls the audio complete.
Complete: the turn ends now (``END_PAUSE_SECONDS`` into the pause at the
soonest), and the satellite hears ``voice-stopped`` (Home Assistant sends
its satellites the same event at its own end of speech). Not complete: it waits for more
speech, or for the silence the judgment allows.

The decode tries the short command window first, biased by the home's names
(``command_window.py``); when that text is no command, a second decode without the names
follows (130 ms for a question, 300 ms for anything else on a 2-core CPU), and only its text
may end the turn. The biased fast text mishears more, and a turn ended on it was ended on
words nobody said: in `bench/end_of_turn.py` the fast text of "Set the piano lamp to ...
forty percent" ended that hesitation in its pause, while the unbiased text ("Set the pin on
the lamp to...") reads cut off. Ending sooner would not answer sooner either: a question's
answer waits for the second text. So the fast text can only make the turn wait longer (it
reads cut off), and Smart Turn scores the pause once the second decode is done, not beside
it (where it slowed the decode by 25 ms). The fast text's wait then holds unless the second
text is a command: two hearings of one pause, and either that heard the speaker stop
mid-sentence is reason to wait (hesitation_03, "Lock the ... ": fast "Black, The", second
"Block that.", Smart Turn 0.98, was cut off in its pause).

A complete utterance the LLM will answer does not end at once when its answer is being
drafted (answer_run.py): the turn listens on until the draft's first sentence could be heard
(``ANSWER_LISTEN_SECONDS`` of silence at most). The answer cannot play sooner anyway, and a
speaker who only paused ("How far away is ... the moon?", heard "Up our ways." and called
complete by Smart Turn at 0.97) is not cut off in those few hundred milliseconds.

The rules and the judgment are the shared end-of-turn module's (``audio/endpoint.py``); this
class only feeds them from the stream and calls back. It also tells the satellite when speech
started (``voice-started``), so the satellite keeps only a long fallback rule of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..asr.speech_gate import SPEECH_PROBABILITY
from ..audio.endpoint import (
    END_PAUSE_SECONDS,
    EndOfTurnDetector,
    EndOfTurnRules,
    EndReason,
    TurnPhase,
    pause_wait,
)
from ..audio.vad import CHUNK_SECONDS

if TYPE_CHECKING:
    from ..asr.decoded import Decoded
    from ..audio.turn_model import TurnModel

_LOGGER = logging.getLogger(__name__)

ANSWER_LISTEN_SECONDS = 1.0
"""A complete utterance whose LLM answer is being drafted ends when that answer could be
heard, or at this much silence: the bench's hesitations pause 0.5-1.0 s, and with the test
Ollama (150 ms to the first token, 20 tokens/s) a draft's first sentence has audio about
0.75 s into the pause (`bench/end_of_turn.py`: a question's turn now ends 763-790 ms after
the end of speech, p50 over three corpus seeds)."""


class TurnEnd:
    """One turn's end-of-turn decision on the server (an ``AsrStream`` pause listener)."""

    def __init__(
        self,
        rules: EndOfTurnRules,
        model: TurnModel | None,
        is_command: Callable[[str], bool],
        on_speech: Callable[[], None],
        on_end: Callable[[EndReason], None],
        language: str | None = None,
        audio: Callable[[], bytes] = bytes,
        on_resume: Callable[[], None] | None = None,
        on_text: Callable[[str], None] | None = None,
        answer_audible: Callable[[str], asyncio.Event | None] | None = None,
    ) -> None:
        """on_speech: speech started (once); on_end: the turn is over, with why (once);
        audio: the turn's audio so far, which Smart Turn scores; on_resume: speech went on
        after a pause (what was started on the pause's transcript is stale); on_text: a
        pause's second (unbiased) transcript that is no command, while the pause lasts (the
        turn's final transcript, unless speech resumes); answer_audible: for a transcript,
        the event set once the answer drafted for it could be heard (None: no draft), which a
        complete utterance waits for before it ends (``ANSWER_LISTEN_SECONDS`` at most)."""
        self._on_resume = on_resume
        self._on_text = on_text
        self._answer_audible = answer_audible
        self._detector = EndOfTurnDetector(rules)
        self._audio = audio
        self._paused = asyncio.Event()
        """Set once a pause has lasted ``END_PAUSE_SECONDS``: Smart Turn scores it then,
        since the model needs the pause itself to call a sentence finished."""
        self._model = model
        self._is_command = is_command
        self._on_speech = on_speech
        self._on_end = on_end
        self._language = language
        self._pauses = 0
        """Counts pauses; speech after a pause makes a judgment of it stale."""
        self._in_pause = False
        self._pause_seconds = 0.0
        """How much had been said when this pause began (for the log line)."""
        self._pause_started = 0.0
        self._complete = False
        """This pause was judged complete before ``END_PAUSE_SECONDS``: it ends there."""
        self._probability: asyncio.Future[float] | None = None
        """Smart Turn on this pause's audio, computed once for both judgments."""
        self._judges: set[asyncio.Task[None]] = set()
        self.judgments: list[tuple[float | None, bool, float | None]] = []
        """(P(complete), command, wait) per judgment, as the debug log shows them."""

    def observe(self, probability: float) -> None:
        """One 32 ms chunk's speech probability, from the stream's own VAD scan."""
        detector = self._detector
        if detector.ended:
            return
        speech = probability >= SPEECH_PROBABILITY
        if speech and self._in_pause:
            self._in_pause = self._complete = False
            self._pauses += 1
            self._probability = None
            self._paused.set()  # releases a judgment still waiting on the old pause
            self._paused = asyncio.Event()
            if self._on_resume is not None:
                self._on_resume()
        was_started = detector.speech_started
        phase = detector.process(speech, CHUNK_SECONDS)
        if detector.speech_started and not was_started:
            self._on_speech()
        if phase is TurnPhase.ENDED:
            self._end(detector.end_reason or EndReason.SILENCE)
        elif detector.silence >= END_PAUSE_SECONDS and self._in_pause:
            self._paused.set()
            if self._complete and detector.complete():
                self._end(EndReason.COMPLETE)

    @property
    def in_pause(self) -> bool:
        """True from a pause's decode until speech resumes or the turn ends."""
        return self._in_pause and not self._detector.ended

    def pause(self, audio: bytes, decode: asyncio.Task[Decoded]) -> None:
        """The stream decodes what was said before this pause: judge its text when ready."""
        if self._detector.ended or not self._detector.speech_started:
            return
        self._in_pause = True
        self._pause_seconds = len(audio) / 32000
        self._pause_started = time.perf_counter()
        if self._detector.silence >= END_PAUSE_SECONDS:
            self._paused.set()  # the stream's scan ran ahead of this call
        self._spawn(self._judge_decode(decode, self._pauses))

    def heard(self, text: str, command: bool) -> None:
        """The fast (biased) text of this pause's decode, before the second decode's: a text
        that is no command may make the turn wait (it reads cut off, or starts like a
        command), never end it; only a command in the second decode's text ends the turn
        before that wait."""
        if self._in_pause and not command and not self._detector.ended:
            self._spawn(self._judge(text.strip(), False, self._pauses, may_end=False))

    def close(self) -> None:
        """The turn is over or gone: stop judging."""
        current = asyncio.current_task()
        for task in list(self._judges):
            if task is not current:
                task.cancel()

    def _spawn(self, judgment: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(judgment, name="turn end judgment")
        self._judges.add(task)
        task.add_done_callback(self._judges.discard)

    async def _judge_decode(self, decode: asyncio.Task[Decoded], pause: int) -> None:
        await asyncio.wait({decode})
        if decode.cancelled() or decode.exception() is not None:
            return  # speech resumed (or the decode failed): the end of the turn waits
        text = decode.result().text.strip()
        command = bool(text) and self._is_command(text)
        if self._on_text is not None and text and not command and self.in_pause:
            if pause == self._pauses:
                self._on_text(text)
        await self._judge(text, command, pause)

    async def _judge(self, text: str, command: bool, pause: int, may_end: bool = True) -> None:
        """A command needs no model: its 70-120 ms (this 2-core CPU) would only compete
        with the decode for the same cores. may_end=False: the text rules only (no Smart
        Turn), which end nothing without it."""
        if self._detector.ended or pause != self._pauses:
            return
        probability = None if command or not may_end else await self._smart_turn()
        if self._detector.ended or pause != self._pauses:
            return
        wait = pause_wait(probability, command, text, self._language)
        held = ""
        if wait == 0 and not command and self._detector.judged_wait:
            # The fast text read cut off (or as a command's start): its wait holds.
            wait, held = self._detector.judged_wait, " (the fast text reads as more to come)"
        elif wait == 0 and not command and await self._listened_for_answer(text, pause):
            if self._detector.ended or pause != self._pauses:
                return  # speech went on while the answer was drafted (or the turn ended)
            held = " (listened on until its answer could be heard)"
        self.judgments.append((probability, command, wait))
        _LOGGER.debug(
            "Pause after %.2f s judged %.0f ms into it: P(complete)=%s, command=%s, %r -> %s%s",
            self._pause_seconds,
            (time.perf_counter() - self._pause_started) * 1000,
            "-" if probability is None else f"{probability:.2f}",
            command,
            text,
            "end" if wait == 0 else f"wait {wait} s" if wait else "the rules' silence",
            held,
        )
        if wait == 0:
            if self._detector.silence < END_PAUSE_SECONDS:
                self._complete = True  # observe() ends it once the pause is long enough
            elif self._detector.complete():
                self._end(EndReason.COMPLETE)
        elif wait is not None:
            self._detector.wait(wait)

    async def _listened_for_answer(self, text: str, pause: int) -> bool:
        """Wait, while this pause lasts, until the answer drafted for `text` could be heard
        (``ANSWER_LISTEN_SECONDS`` of silence at most); False when there is no such draft
        or it is ready already."""
        audible = self._answer_audible(text) if self._answer_audible is not None else None
        if audible is None or audible.is_set():
            return False
        while not audible.is_set() and pause == self._pauses and not self._detector.ended:
            left = ANSWER_LISTEN_SECONDS - self._detector.silence
            if left <= 0:
                break
            # Speech that resumes (a newer pause count) is seen here within a chunk.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(audible.wait(), min(left, CHUNK_SECONDS))
        return True

    async def _smart_turn(self) -> float | None:
        """P(complete) of the turn's audio ``END_PAUSE_SECONDS`` into this pause, once per
        pause; None without the model."""
        if self._model is None:
            return None
        paused = self._paused
        await paused.wait()
        if paused is not self._paused:
            return None  # speech resumed meanwhile: the caller sees a newer pause
        if self._probability is None:
            self._probability = asyncio.get_running_loop().run_in_executor(
                None, self._model.probability, self._audio()
            )
        try:
            return await asyncio.shield(self._probability)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.warning("Smart Turn failed; judging on the transcript", exc_info=True)
            return None

    def _end(self, reason: EndReason) -> None:
        self.close()
        self._on_end(reason)
