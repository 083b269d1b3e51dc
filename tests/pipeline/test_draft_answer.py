"""An LLM question starts before the turn is over (issue 21 point 4, issue 19's LLM goal).

Real engines and Smart Turn, real TCP, audio paced as a microphone delivers it; the test
Ollama echoes each question and records when each request arrived. The draft starts on the
pause's fast transcript (`pipeline/answer_run.py`); it is spoken only when the final
transcript says the same words, and dropped when the speaker goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from fakes.ollama_server import FakeOllama
from pipeline_helpers import _ready, hesitant, paced_turn, speech

from wyoming_rtx.app import App
from wyoming_rtx.audio.turn_model import find_bundled_turn_model
from wyoming_rtx.handle import HandleRequest
from wyoming_rtx.pipeline.answer_run import AnswerRun, DraftSlot, same_words
from wyoming_rtx.pipeline.trace import TraceLog
from wyoming_rtx.settings import AsrSettings, HandleSettings, ServerSettings, TtsSettings

module_loop = pytest.mark.asyncio(loop_scope="module")
needs_model = pytest.mark.skipif(
    find_bundled_turn_model() is None,
    reason="Smart Turn is not installed (script/setup installs pipecat-ai --no-deps)",
)


class ClockedOllama(FakeOllama):
    """Records when each chat request arrived, and its question."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[tuple[float, str]] = []

    async def _chat(self, request):  # type: ignore[no-untyped-def]
        body: dict[str, Any] = await request.json()
        self.arrived.append((time.monotonic(), body["messages"][-1]["content"]))
        return await super()._chat(request)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ollama() -> AsyncIterator[ClockedOllama]:
    async with ClockedOllama() as server:
        server.token_delay = 0.05
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def app(ollama: ClockedOllama) -> AsyncIterator[App]:
    running = App(
        ServerSettings(uri="tcp://127.0.0.1:0", zeroconf=False, end_of_turn="smart"),
        AsrSettings(),
        TtsSettings(noise_scale=0.0, noise_w_scale=0.0),
        HandleSettings(ollama_url=ollama.url),
    )
    await running.start()
    await asyncio.wait_for(_ready(running), 180)
    yield running
    await running.stop()


def test_same_words_ignores_case_and_punctuation_only() -> None:
    assert same_words("What is the capital of France?", "what is the capital of france")
    assert same_words("It's late.", "it's late")
    assert not same_words("How do I boil an egg?", "How do I boil a neck?")
    assert not same_words("", "")


@module_loop
@needs_model
async def test_a_question_is_answered_by_the_draft_started_in_its_pause(
    app: App, ollama: ClockedOllama
) -> None:
    pcm = await speech(app, "What is the capital of France?")
    first = len(ollama.arrived)
    turn = await paced_turn(app.listener.port, pcm, "asks-draft")
    trace = app.pipeline.traces.turns[-1]
    assert trace.source == "llm" and trace.draft == "kept", trace
    assert "capital of france" in turn.text("transcript").lower()
    asked = ollama.arrived[first:]
    assert len(asked) == 1, "the draft is the answer: the question is not asked twice"
    # The LLM was asked before the turn's transcript was final.
    assert asked[0][0] < trace.marks["transcript"], (asked[0][0], trace.marks)
    assert "capital of france" in turn.text("handled").lower()  # the test Ollama echoes
    assert turn.kinds().count("audio-chunk") > 0
    history = app.pipeline.assistant.conversations.history("satellite-asks-draft")
    assert len(history) == 2 and "capital of france" in history[0]["content"].lower()


@module_loop
@needs_model
async def test_a_cut_off_question_is_not_drafted_and_the_whole_one_is_answered(
    app: App, ollama: ClockedOllama
) -> None:
    """ "What is the capital of" reads as cut off: the turn waits for the rest, and no draft
    competes with it for the CPU (or asks the LLM a question nobody asked)."""
    pcm = await hesitant(app, "What is the capital of", "France?", pause=0.9)
    first = len(ollama.arrived)
    turn = await paced_turn(app.listener.port, pcm, "goes-on")
    assert "france" in turn.text("transcript").lower(), turn.text("transcript")
    asked = [question for _, question in ollama.arrived[first:]]
    assert asked and all("france" in question.lower() for question in asked), asked
    trace = app.pipeline.traces.turns[-1]
    assert trace.source == "llm" and "france" in trace.answer.lower(), trace
    history = app.pipeline.assistant.conversations.history("satellite-goes-on")
    assert [m["content"].lower().count("france") for m in history] == [1, 1], history


@module_loop
async def test_what_reads_as_more_to_come_is_not_drafted(app: App, ollama: ClockedOllama) -> None:
    trace = TraceLog().start("slot", "Kitchen")
    request = HandleRequest("", conversation_id="more", area="Kitchen", language="en")
    slot = DraftSlot(app.pipeline.assistant, app.pipeline.tts, request, trace)
    first = len(ollama.arrived)
    for text in ("What is the capital of", "Tell me about the", "Turn on the greenhouse"):
        slot.offer(text)
    await asyncio.sleep(0.5)
    assert ollama.arrived[first:] == [] and trace.draft == ""
    slot.offer("Tell me about Spain.")
    await asyncio.sleep(0.5)
    assert [q for _, q in ollama.arrived[first:]] == ["Tell me about Spain."]
    slot.drop("test over")
    assert trace.draft == "dropped"


@module_loop
async def test_a_draft_that_heard_other_words_is_dropped(app: App, ollama: ClockedOllama) -> None:
    trace = TraceLog().start("slot", "Kitchen")
    slot = DraftSlot(
        app.pipeline.assistant,
        app.pipeline.tts,
        HandleRequest("", conversation_id="draft-slot", area="Kitchen"),
        trace,
    )
    slot.offer("Tell me about Spain.")
    await asyncio.sleep(0.3)
    run = slot.take("Tell me about Spam.")
    assert trace.draft == "dropped"
    answer = await asyncio.wait_for(run.answer, 20)
    assert "spam" in answer.text.lower() and "spain" not in answer.text.lower(), answer
    history = app.pipeline.assistant.conversations.history("draft-slot")
    assert [m["content"] for m in history][0] == "Tell me about Spam."
    run.cancel()


@module_loop
async def test_a_failing_answer_run_ends_its_waiters(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our own bug inside the run must not leave the turn waiting: the answer fails, the
    first-text wait ends, and the sentences end."""

    async def broken(*args: object, **kwargs: object) -> AsyncIterator[str]:
        raise RuntimeError("boom")
        yield ""  # an async generator

    monkeypatch.setattr("wyoming_rtx.pipeline.answer_run.never_silent.answers", broken)
    run = AnswerRun(app.pipeline.assistant, app.pipeline.tts, HandleRequest("hello"))
    await asyncio.wait_for(run.first_text.wait(), 5)
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(run.answer, 5)
    assert await asyncio.wait_for(run.sentences.get(), 5) is None
