"""One answer's words and sentences, produced apart from the turn that speaks them.

A question for the LLM used to start only once the turn was over and its transcript final:
the LLM's first words (150 ms with the test Ollama) and the first sentence's synthesis all
came after the end-of-turn decision and the full-window decode. A *draft* starts them on the
pause's fast transcript instead (the command window's text, which already proved to be no
command), while the speaker may still go on, as RealtimeVoiceChat and
huggingface/speech-to-speech start their LLM during the trailing silence:

- the draft asks only what `Assistant.goes_to_llm` accepts: no local command, no pending
  question, no room to ask for, so only the LLM runs, and the LLM changes nothing in the
  home and nothing in the conversation until the turn confirms it (`may_act`);
- its first sentence is synthesized at once and held, so the answer's first sound is ready;
- the turn adopts the draft when its final transcript says the same words
  (`same_words`), and drops it otherwise (speech resumed, a different decode, no speech):
  the answer then starts on the final text, as it always did.

Nothing reaches the client from here: the turn (turn.py) sends, and marks its trace, only
what it adopted, so a dropped draft is never heard and never counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..audio.transcript_cues import more_to_come, spoken_words
from ..handle import Answer, HandleRequest, never_silent
from ..tts.sentences import SentenceSplitter

if TYPE_CHECKING:
    from ..handle import Assistant
    from ..tts.engine import SpeechAudio, TtsEngine
    from .trace import TurnTrace

_LOGGER = logging.getLogger(__name__)


def same_words(a: str, b: str) -> bool:
    """True when two transcripts say the same words ("What time is it?" and "what time is
    it"): case and punctuation are whisper's choice between two decodes, not the speaker's."""
    words = spoken_words(a)
    return bool(words) and words == spoken_words(b)


class AnswerRun:
    """The assistant's answer to one request: its sentences as they complete, then the
    final `Answer`. A draft also renders its first sentence before anyone asks for it."""

    def __init__(
        self,
        assistant: Assistant,
        tts: TtsEngine,
        request: HandleRequest,
        *,
        draft: bool = False,
    ) -> None:
        """draft: the request's turn is not over yet; nothing acts until `confirm()`."""
        self.request = request
        self.draft = draft
        self._tts = tts
        self._may_act = asyncio.Event()
        if not draft:
            self._may_act.set()
        self.sentences: asyncio.Queue[str | None] = asyncio.Queue()
        """Each speakable sentence (the first cut at its first clause), then None."""
        self.first_text = asyncio.Event()
        """Set when the first words (a delta, or the whole answer) are in."""
        loop = asyncio.get_running_loop()
        self.answer: asyncio.Future[Answer] = loop.create_future()
        self.started = time.monotonic()
        self._first: tuple[str, asyncio.Queue[SpeechAudio | None]] | None = None
        """A draft's first sentence, and its audio as it is rendered (held for the turn)."""
        self.audible = asyncio.Event()
        """Set once the answer could be heard: a draft's first sentence has its first audio
        (or failed), or the answer ended without a sentence."""
        self._render_task: asyncio.Task[None] | None = None
        self._task = loop.create_task(self._produce(assistant), name="answer run")

    def confirm(self) -> None:
        """The turn is over and this is its answer: the LLM's tools may act now."""
        self._may_act.set()

    def cancel(self) -> None:
        """Dropped (speech resumed, another transcript, the turn gone): stop the LLM and the
        synthesis; nothing was said or done."""
        self.audible.set()  # nothing more will come: nobody waits for it
        self._task.cancel()
        if self._render_task is not None:
            self._render_task.cancel()
        if not self.answer.done():
            self.answer.cancel()
        elif not self.answer.cancelled():
            self.answer.exception()  # retrieved: a failure nobody awaited is logged once

    async def speech(self, sentence: str, first: bool) -> AsyncIterator[SpeechAudio]:
        """The audio of one sentence: the draft's held rendering of its first, else a fresh
        synthesis (the first sentence alone may be cut at its first clause)."""
        held = self._first
        if first and held is not None and held[0] == sentence and self._render_task is not None:
            self._first = None
            render = self._render_task
            while (piece := await held[1].get()) is not None:
                yield piece
            await render  # raises what the rendering raised, as a fresh synthesis would
            return
        speech = self._tts.synthesize(sentence, first_clause=None if first else False)
        async with contextlib.aclosing(speech) as audio:
            async for piece in audio:
                yield piece

    async def _produce(self, assistant: Assistant) -> None:
        splitter = SentenceSplitter(first_clause=True)
        streamed = False
        items = never_silent.answers(assistant, self.request, may_act=self._may_act)
        try:
            async with contextlib.aclosing(items) as answers:
                async for item in answers:
                    self.first_text.set()
                    if isinstance(item, str):
                        streamed = True
                        self._put(splitter.add(item))
                        continue
                    if not streamed:
                        self._put(splitter.add(item.text))
                    self._put(splitter.flush())
                    self.answer.set_result(item)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # never_silent answers everything; this is our own bug
            _LOGGER.exception("Answering %r failed", self.request.text)
            if not self.answer.done():
                self.answer.set_exception(err)
        finally:
            self.first_text.set()  # a waiter then finds the answer (or its failure)
            if self._render_task is None:
                self.audible.set()
            self.sentences.put_nowait(None)

    def _put(self, sentences: list[str]) -> None:
        for sentence in sentences:
            if self.draft and self._first is None:
                pieces: asyncio.Queue[SpeechAudio | None] = asyncio.Queue()
                self._first = (sentence, pieces)
                self._render_task = asyncio.create_task(
                    self._render(sentence, pieces), name="draft first sentence"
                )
                self._render_task.add_done_callback(_retrieve)
            self.sentences.put_nowait(sentence)

    async def _render(self, sentence: str, pieces: asyncio.Queue[SpeechAudio | None]) -> None:
        """A draft's first sentence, rendered now and held (one sentence: bounded)."""
        started = time.perf_counter()
        speech = self._tts.synthesize(sentence, first_clause=None)
        try:
            async with contextlib.aclosing(speech) as audio:
                async for piece in audio:
                    pieces.put_nowait(piece)
                    self.audible.set()
        finally:
            pieces.put_nowait(None)
            self.audible.set()
        _LOGGER.debug(
            "Draft's first sentence rendered in %.0f ms: %r",
            (time.perf_counter() - started) * 1000,
            sentence,
        )


def _retrieve(task: asyncio.Task[None]) -> None:
    """A dropped draft's failed rendering is never awaited: its error is logged here."""
    if not task.cancelled() and (err := task.exception()) is not None:
        _LOGGER.debug("Draft's first sentence failed: %r", err)


class DraftSlot:
    """A turn's one draft: started on a pause's fast transcript, replaced by a newer one,
    dropped when speech resumes, adopted by the final transcript that says the same words."""

    def __init__(
        self,
        assistant: Assistant,
        tts: TtsEngine,
        request: HandleRequest,
        trace: TurnTrace,
    ) -> None:
        """request: the turn's request with no text yet (who is speaking, the conversation);
        trace: where whether a draft was kept or dropped is recorded."""
        self._assistant = assistant
        self._tts = tts
        self._request = request
        self._trace = trace
        self._draft: AnswerRun | None = None

    def offer(self, text: str) -> None:
        """A pause's transcript that is no command: draft its answer, when only the LLM would
        answer it (`Assistant.goes_to_llm`) and it does not read as more to come ("What is
        the capital of", "Turn on the"), which the turn waits for."""
        text = text.strip()
        if not text or (self._draft is not None and same_words(self._draft.request.text, text)):
            return
        self.drop("a newer transcript")
        if more_to_come(text, self._request.language):
            return  # the turn waits for the rest: a draft would compete with it for the CPU
        request = dataclasses.replace(self._request, text=text)
        if self._assistant.goes_to_llm(request):
            _LOGGER.debug("Turn %d: draft answer started on %r", self._trace.turn_id, text)
            self._draft = AnswerRun(self._assistant, self._tts, request, draft=True)

    def audible(self, text: str) -> asyncio.Event | None:
        """Set once the answer drafted for `text` could be heard; None without such a draft."""
        draft = self._draft
        if draft is None or not same_words(draft.request.text, text):
            return None
        return draft.audible

    def drop(self, why: str) -> None:
        """Cancel the draft, if any: nothing of it was said or done."""
        draft, self._draft = self._draft, None
        if draft is not None:
            _LOGGER.debug("Turn %d: draft answer dropped: %s", self._trace.turn_id, why)
            self._trace.draft = "dropped"
            draft.cancel()

    def take(self, text: str) -> AnswerRun:
        """The answer to the final transcript: the draft, confirmed, when it heard the same
        words; else a new run (the draft dropped)."""
        draft = self._draft
        if draft is not None and same_words(draft.request.text, text):
            self._draft = None
            self._trace.draft = "kept"
            _LOGGER.debug(
                "Turn %d: draft answer kept, started %.0f ms before the transcript",
                self._trace.turn_id,
                (time.monotonic() - draft.started) * 1000,
            )
            draft.confirm()
            return draft
        self.drop(f"the transcript is {text!r}")
        request = dataclasses.replace(self._request, text=text)
        return AnswerRun(self._assistant, self._tts, request)
