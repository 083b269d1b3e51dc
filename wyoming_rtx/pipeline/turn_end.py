"""The server ends a direct turn when the utterance is complete, not after a fixed silence.

The server has what a satellite lacks: the speculative transcript of each pause and the home
that says whether it is a command. So in direct mode it decides (``--end-of-turn smart``):
at every pause the speech-to-text stream starts a decode (``DECODE_PAUSE_SECONDS`` of
silence); ``TurnEnd`` then asks Smart Turn whether the audio so far sounds finished (run in a
worker thread beside the decode) and whether the transcript is a command the home
understands, and ``utterance_complete`` judges both (a command is complete; anything else
needs the model's "complete" and a transcript that does not read as cut off). Complete: the
turn ends now, and the satellite hears ``voice-stopped`` (Home Assistant sends its satellites
the same event at its own end of speech). Not complete: it waits for more speech, or for
the rules' silence.

The rules and the judgment are the shared end-of-turn module's (``audio/endpoint.py``); this
class only feeds them from the stream and calls back. It also tells the satellite when speech
started (``voice-started``), so the satellite keeps only a long fallback rule of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..asr.speech_gate import SPEECH_PROBABILITY
from ..audio.endpoint import (
    EndOfTurnDetector,
    EndOfTurnRules,
    EndReason,
    TurnPhase,
    utterance_complete,
)
from ..audio.vad import CHUNK_SECONDS

if TYPE_CHECKING:
    from ..asr.engine import Decoded
    from ..audio.turn_model import TurnModel

_LOGGER = logging.getLogger(__name__)


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
    ) -> None:
        """on_speech: speech started (once); on_end: the turn is over, with why (once)."""
        self._detector = EndOfTurnDetector(rules)
        self._language = language
        self._model = model
        self._is_command = is_command
        self._on_speech = on_speech
        self._on_end = on_end
        self._pauses = 0
        """Counts pauses; speech after a pause makes a judgment of it stale."""
        self._in_pause = False
        self._judges: set[asyncio.Task[None]] = set()
        self.judgments: list[tuple[float | None, bool, bool]] = []
        """(P(complete), command, complete) per judged pause, for the trace and tests."""

    @property
    def ended(self) -> bool:
        return self._detector.ended

    def observe(self, probability: float) -> None:
        """One 32 ms chunk's speech probability, from the stream's own VAD scan."""
        detector = self._detector
        if detector.ended:
            return
        speech = probability >= SPEECH_PROBABILITY
        if speech and self._in_pause:
            self._in_pause = False
            self._pauses += 1
        was_started = detector.speech_started
        phase = detector.process(speech, CHUNK_SECONDS)
        if detector.speech_started and not was_started:
            self._on_speech()
        if phase is TurnPhase.ENDED:
            self._end(detector.end_reason or EndReason.SILENCE)

    def pause(self, audio: bytes, decode: asyncio.Task[Decoded]) -> None:
        """The stream decodes what was said before this pause: judge it."""
        if self._detector.ended or not self._detector.speech_started:
            return
        self._in_pause = True
        task = asyncio.get_running_loop().create_task(
            self._judge(audio, decode, self._pauses), name="turn end judgment"
        )
        self._judges.add(task)
        task.add_done_callback(self._judges.discard)

    def close(self) -> None:
        """The turn is over or gone: stop judging."""
        current = asyncio.current_task()
        for task in list(self._judges):
            if task is not current:
                task.cancel()

    async def _judge(self, audio: bytes, decode: asyncio.Task[Decoded], pause: int) -> None:
        """The transcript first: a command is complete without the model, whose 70-120 ms
        (this 2-core CPU) would otherwise compete with the decode for the same cores."""
        started = time.perf_counter()
        await asyncio.wait({decode})
        if decode.cancelled() or decode.exception() is not None:
            return  # speech resumed (or the decode failed): the end of the turn waits
        text = decode.result().text.strip()
        if self._detector.ended or pause != self._pauses:
            return
        command = bool(text) and self._is_command(text)
        probability: float | None = None
        if not command and self._model is not None:
            try:
                probability = await asyncio.get_running_loop().run_in_executor(
                    None, self._model.probability, audio
                )
            except Exception:
                _LOGGER.warning("Smart Turn failed; judging on the transcript", exc_info=True)
            if self._detector.ended or pause != self._pauses:
                return
        complete = utterance_complete(probability, command, text, self._language)
        self.judgments.append((probability, command, complete))
        _LOGGER.debug(
            "Pause after %.2f s judged in %.0f ms: P(complete)=%s, command=%s, %r -> %s",
            len(audio) / 32000,
            (time.perf_counter() - started) * 1000,
            "-" if probability is None else f"{probability:.2f}",
            command,
            text,
            "end" if complete else "wait",
        )
        if complete and self._detector.complete():
            self._end(EndReason.COMPLETE)

    def _end(self, reason: EndReason) -> None:
        self.close()
        self._on_end(reason)
