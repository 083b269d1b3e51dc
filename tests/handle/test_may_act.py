"""A draft answer (started before its turn is over) speaks but does not act (issue 21 point 4).

`Assistant.answer(request, may_act=event)` streams the LLM's words at once, while every tool
call and the turn's record in the conversation wait for the event; a draft that is dropped is
cancelled while it waits and leaves the home and the conversation as they were.
`goes_to_llm` says which requests may be drafted at all: only those nothing but the LLM
would answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.fakes import FakeOllama
from wyoming_rtx.handle import Answer, Assistant, HandleRequest, IntentMatcher
from wyoming_rtx.handle.conversations import PendingAction
from wyoming_rtx.settings import HandleSettings

TURN_ON = ("turn_on", {"name": "Kitchen Light"})


@pytest.fixture
async def llm_assistant(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher
) -> AsyncIterator[Assistant]:
    assistant = Assistant(
        HandleSettings(ollama_url=fake_ollama.url, llm_timeout=5.0), matcher=en_matcher
    )
    await assistant.start()
    yield assistant
    await assistant.stop()


def _light(assistant: Assistant) -> str:
    return assistant.home.snapshot.entities["light.kitchen_light"].state


async def _collect(
    items: AsyncIterator[str | Answer], into: list[str | Answer], first: asyncio.Event
) -> None:
    async for item in items:
        into.append(item)
        first.set()


async def test_a_draft_streams_its_words_but_acts_only_once_confirmed(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue_reply("Turning it on.", tool_calls=[TURN_ON])
    fake_ollama.queue_reply("Done.")
    may_act = asyncio.Event()
    request = HandleRequest("could you make the kitchen brighter", conversation_id="d1")
    items: list[str | Answer] = []
    first = asyncio.Event()
    task = asyncio.create_task(_collect(llm_assistant.answer(request, may_act), items, first))
    await asyncio.wait_for(first.wait(), 10)
    await asyncio.sleep(0.5)  # the tool call has long arrived: it must be waiting
    assert not task.done()
    assert _light(llm_assistant) == "off", "a draft must not act before its turn is confirmed"
    assert len(fake_ollama.requests) == 1
    assert llm_assistant.conversations.history("d1") == []
    may_act.set()
    await asyncio.wait_for(task, 10)
    assert _light(llm_assistant) == "on"
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.source == "llm" and answer.handled
    assert [m["content"] for m in llm_assistant.conversations.history("d1")] == [
        "could you make the kitchen brighter",
        answer.text,
    ]


async def test_a_dropped_draft_leaves_the_home_and_the_conversation_alone(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue_reply("Turning it on.", tool_calls=[TURN_ON])
    request = HandleRequest("could you make the kitchen brighter", conversation_id="d2")
    items: list[str | Answer] = []
    first = asyncio.Event()
    task = asyncio.create_task(
        _collect(llm_assistant.answer(request, asyncio.Event()), items, first)
    )
    await asyncio.wait_for(first.wait(), 10)
    await asyncio.sleep(0.3)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert _light(llm_assistant) == "off"
    assert llm_assistant.conversations.history("d2") == []
    assert not any(isinstance(item, Answer) for item in items)


async def test_a_draft_without_tools_is_recorded_only_once_confirmed(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue_reply("Paris is the capital of France.")
    may_act = asyncio.Event()
    request = HandleRequest("what is the capital of france", conversation_id="d3")
    items: list[str | Answer] = []
    task = asyncio.create_task(
        _collect(llm_assistant.answer(request, may_act), items, asyncio.Event())
    )
    await asyncio.sleep(1.0)  # the whole reply has streamed by now
    assert "".join(i for i in items if isinstance(i, str)).strip() == (
        "Paris is the capital of France."
    )
    assert not task.done() and llm_assistant.conversations.history("d3") == []
    may_act.set()
    await asyncio.wait_for(task, 10)
    assert len(llm_assistant.conversations.history("d3")) == 2


async def test_only_what_the_llm_alone_answers_may_be_drafted(
    llm_assistant: Assistant, file_assistant: Assistant
) -> None:
    def drafts(assistant: Assistant, text: str, cid: str = "g", area: str | None = "Kitchen"):
        return assistant.goes_to_llm(HandleRequest(text, conversation_id=cid, area=area))

    assert drafts(llm_assistant, "What is the capital of France?")
    assert not drafts(llm_assistant, "Turn on the kitchen light."), "a local command acts now"
    assert not drafts(llm_assistant, "   "), "nothing was said"
    assert not drafts(file_assistant, "What is the capital of France?"), "no LLM configured"
    # A speaker without an area whose command needs one is asked "Which room?", not drafted.
    assert not drafts(llm_assistant, "Turn on the lights.", area=None)
    # A pending question makes the next turn its answer ("yes" confirms an unlock).
    match = llm_assistant.recognize(HandleRequest("unlock the front door"))
    assert match is not None
    llm_assistant.conversations.set_pending("p1", PendingAction(match, "unlock the front door"))
    assert not drafts(llm_assistant, "yes please", cid="p1")
    assert drafts(llm_assistant, "yes please", cid="other")
