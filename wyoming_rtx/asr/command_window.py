"""A spoken command decoded with the short encoder window first, kept only when it is one.

The short window halves a command's decode on a CPU but mishears a little more often
(short_window.py). A misheard command rarely still reads as a command the home
understands, so the fast text is kept only when `accept` says it is one (a local intent
match); anything else (a question for the LLM, a garbled word) is decoded a second time,
without the home's names, which then decides.

The home's names bias the decoder (vocabulary.py) where a command can come of it: the fast
decode, and a decode no command test follows (Home Assistant's transcription, plain
requests), as wyoming-faster-whisper always biases. The second decode after a rejected fast
one goes without them: the text is no command, and a question is heard better unbiased (10
questions in `bench/asr_names.py`: 9.8 % WER unbiased, 14.8 % biased).

A question keeps the short window for its second decode; anything else gets the full one.
That decode is on the critical path of every question for the LLM, where the full 30 s
window cost 323 ms against 131 ms (median, tiny.en int8, 2-core CPU) for words heard as
well: on 106 questions and requests for the LLM (the end-of-turn bench's 10, and 24 new ones
in a quiet and a noisy rendering, with 0.5 s and with 0.25 s of silence before the speech),
54 transcripts were exact at 15 s and 52 at 30 s (`bench/asr_second_window.py`). A command
the fast decode misheard is different: the short window's own errors are most often the
first word ("Pern on the kitchen light"), which the same window repeats without the names
and the full window corrects, so a text that does not read as a question
(``asks_a_question``) is decoded again with the full window.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..audio.transcript_cues import asks_a_question

if TYPE_CHECKING:
    from .decoded import Decoded

_LOGGER = logging.getLogger(__name__)

CPU_COMMAND_WINDOW_SECONDS = 15.0
"""Spoken turns on a CPU try this window first (see CommandWindow.decode)."""

MAX_COMMAND_SECONDS = 8.0
"""Longer audio is not a command (the home's commands take 1-5 s to say, with pauses), so it
goes straight to the full window: a fast decode that would only be thrown away cost a 10 s
passage sent in one burst +400 ms (1,057 → 1,469 ms, `bench/run.py --quick`)."""

WindowDecode = Callable[[float | None, bool], Awaitable["Decoded"]]
"""Decodes the turn's audio with the given encoder window (None: the engine's own), biased by
the home's names or not."""


class CommandWindow:
    """The fast-window-first policy, and how often its fast text was kept or redone."""

    def __init__(self) -> None:
        """No decodes yet."""
        self.kept = 0
        self.redone = 0
        """Fast command decodes kept (a local command) or decoded again without the names."""

    async def decode(
        self,
        decode: WindowDecode,
        accept: Callable[[str], bool] | None,
        window_seconds: float,
        full_window_seconds: float,
        audio_seconds: float = 0.0,
        language: str | None = None,
    ) -> Decoded:
        """The fast decode when `accept` takes its text, else a second decode without the
        home's names: in the same short window when the fast text asks a question, in the
        full window otherwise.

        Without `accept`, when the command window is not shorter than the full one, or for
        audio longer than MAX_COMMAND_SECONDS, only the full window runs. A redone decode
        reports the time of both decodes.
        """
        if (
            accept is None
            or window_seconds >= full_window_seconds
            or audio_seconds > MAX_COMMAND_SECONDS
        ):
            return await decode(None, True)
        fast = await decode(window_seconds, True)
        if fast.text and accept(fast.text):
            self.kept += 1
            return fast
        self.redone += 1
        question = asks_a_question(fast.text, language)
        _LOGGER.debug(
            "Fast command decode %r is not a local command: decoding again without the names "
            "(%s window)",
            fast.text,
            "short, a question's" if question else "full",
        )
        second = await decode(window_seconds if question else None, False)
        return dataclasses.replace(
            second, decode_seconds=fast.decode_seconds + second.decode_seconds
        )
