"""A spoken command decoded with the short encoder window first, kept only when it is one.

The short window halves a command's decode on a CPU but mishears a little more often
(short_window.py). A misheard command rarely still reads as a command the home
understands, so the fast text is kept only when `accept` says it is one (a local intent
match); anything else (a question for the LLM, a garbled word) is decoded again.

The home's names bias the decoder (vocabulary.py) where a command can come of it: the fast
decode, and a decode no command test follows (Home Assistant's transcription, plain
requests), as wyoming-faster-whisper always biases. A question is heard better unbiased (10
questions in `bench/asr_names.py`: 9.8 % WER unbiased, 14.8 % biased).

The decodes after a rejected fast text, all in the same short window and reusing the fast
decode's encoding (short_window.EncoderCache: the names enter only the decoder, so a greedy
try costs the decoder alone, 30-60 ms instead of 120-160), each kept when `accept` takes it:

1. unless the fast text asks a question (``asks_a_question``), the names written as a plain
   sentence (vocabulary.as_sentence): the listed names themselves can make whisper write a
   list of titles ("Luck, Mudroom Door.");
2. without the names, also kept when the fast text asks a question: the names can mislead
   whisper outright ("Turn off you to query and pump." with them, "Turn off the aquarium
   pump." without). A question keeps this text whatever it is, since it is on the LLM's
   critical path, where the full 30 s window cost 323 ms against 131 ms (median, tiny.en
   int8, 2-core CPU) for words heard as well: on 106 questions and requests for the LLM, 54
   transcripts were exact at 15 s and 52 at 30 s (`bench/asr_second_window.py`);
3. beam search (``RETRY_BEAM_SIZE``) with the names listed, then as a sentence, when the
   engine decodes greedily: a greedy decoder's first wrong word ("Too long, but if you
   mid-ifier." for a slow "Turn on the dehumidifier") is one a wider search avoids. These
   cost 100-130 ms each.

When none of them is a command, the text without the names is the transcript (what a request
for the LLM gets). The full window does not decide then: on the end-of-turn corpus (seeds
19-23, ``bench/turn_corpus.py``: 80 commands, 80 with a hesitation, 40 said slowly, decoded
whole), after the greedy tries failed it heard 2 of the 200 as a command the home understands
and beam search 10, in 310 ms against 100-230; a command heard by no try goes to the LLM (as
one the full window misheard did), 480 instead of 560-610 ms after its decode began (median),
and no question of 50 was heard as a command by any try.
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

RETRY_BEAM_SIZE = 5
"""The beam of the last tries (whisper's and faster-whisper's default beam)."""

_Try = tuple[str, bool, bool, int | None]
_WITHOUT_NAMES: _Try = ("without the names", False, False, None)
_AS_SENTENCE: _Try = ("with the names as a sentence", True, True, None)
_BEAM_SEARCH: tuple[_Try, ...] = (
    ("with the names, beam search", True, False, RETRY_BEAM_SIZE),
    ("with the names as a sentence, beam search", True, True, RETRY_BEAM_SIZE),
)
"""The tries after a rejected fast decode (the module's docstring): what the log calls each,
then `WindowDecode`'s vocabulary, names-as-a-sentence and beam (None: the engine's)."""

WindowDecode = Callable[[float | None, bool, bool, int | None], Awaitable["Decoded"]]
"""Decodes the turn's audio with the given encoder window (None: the engine's own), biased by
the home's names or not, the names as listed or as a plain sentence, with the given beam
(None: the engine's own)."""


class CommandWindow:
    """The fast-window-first policy, and how often its fast text was kept or redone."""

    def __init__(self) -> None:
        """No decodes yet."""
        self.kept = 0
        self.redone = 0
        """Fast command decodes kept (a local command) or tried again (the tries above)."""

    async def decode(
        self,
        decode: WindowDecode,
        accept: Callable[[str], bool] | None,
        window_seconds: float,
        full_window_seconds: float,
        audio_seconds: float = 0.0,
        language: str | None = None,
        beam_size: int = 1,
    ) -> Decoded:
        """The fast decode when `accept` takes its text; else, in the same short window, the
        tries of the module's docstring, the first that `accept` takes kept (for a question,
        the text without the names); else the text without the names.

        Without `accept`, when the command window is not shorter than the full one, or for
        audio longer than MAX_COMMAND_SECONDS, only the full window runs. `beam_size` is the
        engine's: beam-search tries run only when it is narrower than RETRY_BEAM_SIZE. A
        redone decode reports the time of every decode it took.
        """
        if (
            accept is None
            or window_seconds >= full_window_seconds
            or audio_seconds > MAX_COMMAND_SECONDS
        ):
            return await decode(None, True, False, None)
        fast = await decode(window_seconds, True, False, None)
        if fast.text and accept(fast.text):
            self.kept += 1
            return fast
        self.redone += 1
        seconds = fast.decode_seconds
        question = asks_a_question(fast.text, language)
        tries: list[_Try]
        if question:
            tries = [_WITHOUT_NAMES]
        else:
            tries = [_AS_SENTENCE, _WITHOUT_NAMES]
            if beam_size < RETRY_BEAM_SIZE:
                tries += _BEAM_SEARCH
        plain: Decoded | None = None
        for how, vocabulary, names_as_sentence, beam in tries:
            retry = await decode(window_seconds, vocabulary, names_as_sentence, beam)
            seconds += retry.decode_seconds
            if not vocabulary:
                plain = retry
            if question or (retry.text and accept(retry.text)):  # a question's one try
                _LOGGER.debug(
                    "Fast command decode %r is not a local command; %s: %r (%s)",
                    fast.text,
                    how,
                    retry.text,
                    "a question" if question else "a local command",
                )
                return dataclasses.replace(retry, decode_seconds=seconds)
        assert plain is not None  # every list of tries has the one without the names
        _LOGGER.debug(
            "Fast command decode %r is not a local command, nor any try: %r (without the "
            "names) is the transcript",
            fast.text,
            plain.text,
        )
        return dataclasses.replace(plain, decode_seconds=seconds)
