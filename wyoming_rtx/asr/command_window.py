"""A spoken command decoded with the short encoder window first, kept only when it is one.

The short window halves a command's decode on a CPU but mishears a little more often
(short_window.py). A misheard command rarely still reads as a command the home
understands, so the fast text is kept only when `accept` says it is one (a local intent
match); anything else (a question for the LLM, a garbled word) is decoded again.

The home's names bias the decoder (vocabulary.py) where a command can come of it: the fast
decode, and a decode no command test follows (Home Assistant's transcription, plain
requests), as wyoming-faster-whisper always biases. A question is heard better unbiased (10
questions in `bench/asr_names.py`: 9.8 % WER unbiased, 14.8 % biased).

The decodes after a rejected fast text, each kept when `accept` takes it:

1. unless the fast text asks a question (``asks_a_question``), the same short window with
   the names written as a plain sentence (vocabulary.as_sentence): the listed names
   themselves can make whisper write a list of titles ("Luck, Mudroom Door.");
2. the same short window without the names, also kept when the fast text asks a question:
   the names can mislead whisper outright ("Turn off you to query and pump." with them,
   "Turn off the aquarium pump." without). Both reuse the fast decode's encoding
   (short_window.EncoderCache): the decoder alone, 30-45 ms instead of 120. On the
   end-of-turn corpus (seeds 19-22: 64 commands, 64 with a hesitation, 32 said slowly), the
   fast text was a local command 99 times; the names as a sentence made it 113, and no
   question (of 40), nor any first half of a hesitant command (the audio up to its pause),
   read as a command in any of these decodes. For a question this decode is on the LLM's
   critical path, where the full 30 s window cost 323 ms against 131 ms (median, tiny.en
   int8, 2-core CPU) for words heard as well: on 106 questions and requests for the LLM, 54
   transcripts were exact at 15 s and 52 at 30 s (`bench/asr_second_window.py`);
3. the full window without the names: the short window's own errors are most often the
   first word ("Pern on the kitchen light"), which the same window repeats without the
   names and the full window corrects.
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

WindowDecode = Callable[[float | None, bool, bool], Awaitable["Decoded"]]
"""Decodes the turn's audio with the given encoder window (None: the engine's own), biased by
the home's names or not, the names as listed or as a plain sentence."""


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
        """The fast decode when `accept` takes its text; else, in the same short window, the
        names as a sentence (not for a question) and then no names, each kept when `accept`
        takes it (the text without names also when the fast text asks a question); else the
        full window without the names.

        Without `accept`, when the command window is not shorter than the full one, or for
        audio longer than MAX_COMMAND_SECONDS, only the full window runs. A redone decode
        reports the time of every decode it took.
        """
        if (
            accept is None
            or window_seconds >= full_window_seconds
            or audio_seconds > MAX_COMMAND_SECONDS
        ):
            return await decode(None, True, False)
        fast = await decode(window_seconds, True, False)
        if fast.text and accept(fast.text):
            self.kept += 1
            return fast
        self.redone += 1
        seconds = fast.decode_seconds
        question = asks_a_question(fast.text, language)
        retries = [] if question else [("with the names as a sentence", True, True)]
        retries.append(("without the names", False, False))
        for how, vocabulary, names_as_sentence in retries:
            retry = await decode(window_seconds, vocabulary, names_as_sentence)
            seconds += retry.decode_seconds
            if question or (retry.text and accept(retry.text)):  # a question's one retry
                _LOGGER.debug(
                    "Fast command decode %r is not a local command; %s: %r (%s)",
                    fast.text,
                    how,
                    retry.text,
                    "a question" if question else "a local command",
                )
                return dataclasses.replace(retry, decode_seconds=seconds)
        _LOGGER.debug(
            "Fast command decode %r is not a local command, nor %r without the names: "
            "decoding again in the full window",
            fast.text,
            retry.text,
        )
        full = await decode(None, False, False)
        return dataclasses.replace(full, decode_seconds=seconds + full.decode_seconds)
