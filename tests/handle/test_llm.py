"""LLM fallback through the fake Ollama: tools, streaming, memory, failures."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes import FakeOllama, Reply
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.llm import APOLOGY
from wyoming_rtx.settings import HandleSettings


@pytest.fixture
async def llm_assistant(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher
) -> AsyncIterator[Assistant]:
    settings = HandleSettings(
        ollama_url=fake_ollama.url, llm_timeout=1.0, llm_first_token_timeout=1.0
    )
    assistant = Assistant(settings, matcher=en_matcher)
    await assistant.start()
    yield assistant
    await assistant.stop()


async def test_llm_calls_a_tool_that_changes_state(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
    fake_ollama.queue_reply("The kitchen is bright now.")
    deltas, answer = await ask(llm_assistant, "it's too dark to cook in here")
    assert llm_assistant.home.snapshot.entities["light.kitchen_light"].state == "on"
    assert (answer.source, answer.handled) == ("llm", True)
    assert answer.text == "The kitchen is bright now."
    assert "".join(deltas) == "The kitchen is bright now."
    assert len(deltas) > 1, "text must stream in deltas"
    first, second = fake_ollama.requests
    assert first["stream"] is True and first["keep_alive"] == "30m"
    assert first["options"]["num_ctx"] == 4096
    assert "turn_on" in {t["function"]["name"] for t in first["tools"]}
    assert "Kitchen Light" in first["messages"][0]["content"]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and '"success": true' in tool_message["content"]


async def test_tool_rounds_are_bounded(llm_assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.responder = lambda body: (
        Reply("Giving up.")
        if not body["tools"]
        else Reply(tool_calls=[("get_state", {"name": "TV"})])
    )
    _, answer = await ask(llm_assistant, "keep checking the tv forever")
    assert answer.text == "Giving up."
    assert len(fake_ollama.requests) == 6  # 5 tool rounds, then one answer without tools


def _memory_responder(body: dict[str, Any]) -> Reply:
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    return Reply(f"I remember {len(users) - 1} earlier messages.")


async def test_memory_within_a_conversation_not_across(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.responder = _memory_responder
    _, first = await ask(llm_assistant, "my name is Ada", conversation_id="c1")
    _, second = await ask(llm_assistant, "what is my name", conversation_id="c1")
    _, other = await ask(llm_assistant, "what is my name", conversation_id="c2")
    assert first.text == "I remember 0 earlier messages."
    assert second.text == "I remember 1 earlier messages."
    assert other.text == "I remember 0 earlier messages."
    history = fake_ollama.requests[1]["messages"]
    assert [m["content"] for m in history[1:3]] == ["my name is Ada", first.text]


async def test_local_turns_are_in_the_llm_history(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    await ask(llm_assistant, "turn on the kitchen light", conversation_id="c9")
    assert fake_ollama.requests == []  # local: no LLM
    await ask(llm_assistant, "and what did I just ask", conversation_id="c9")
    contents = [m["content"] for m in fake_ollama.requests[0]["messages"]]
    assert "turn on the kitchen light" in contents


async def test_ollama_down_apologises_quickly_and_logs_once(
    llm_assistant: Assistant, fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    await fake_ollama.go_down()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    _, answer = await ask(llm_assistant, "tell me a story")
    assert time.monotonic() - started < 1.5
    assert (answer.text, answer.handled, answer.source) == (APOLOGY, False, "error")
    await ask(llm_assistant, "tell me another story")
    warnings = [r for r in caplog.records if "Ollama" in r.getMessage()]
    assert len(warnings) == 1
    _, local = await ask(llm_assistant, "turn on the kitchen light")
    assert local.handled and local.source == "local"


async def test_slow_ollama_is_abandoned_after_the_first_token_timeout(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.first_token_delay = 5.0
    started = time.monotonic()
    _, answer = await ask(llm_assistant, "tell me a story")
    assert 0.9 < time.monotonic() - started < 2.0
    assert answer.text == APOLOGY and answer.source == "error"


@pytest.mark.parametrize("fault", ["close_after_tokens", "bad_token_after"])
async def test_broken_stream_ends_with_an_apology(
    llm_assistant: Assistant, fake_ollama: FakeOllama, fault: str
) -> None:
    setattr(fake_ollama, fault, 2)
    fake_ollama.queue_reply("one two three four five")
    deltas, answer = await ask(llm_assistant, "count to five")
    assert deltas[:2] == ["one ", "two "]
    assert deltas[-1] == f" {APOLOGY}"
    assert answer.text == f"one two {APOLOGY}" and not answer.handled


async def test_error_status_and_unknown_model(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.error_status = (500, "out of memory")
    _, answer = await ask(llm_assistant, "hello there")
    assert answer.text == APOLOGY
    fake_ollama.error_status = None
    fake_ollama.models = ("qwen3",)
    _, answer = await ask(llm_assistant, "hello there")
    assert answer.text == APOLOGY


async def test_fake_ollama_speaks_the_documented_api(fake_ollama: FakeOllama) -> None:
    import ollama

    client = ollama.AsyncClient(host=fake_ollama.url)
    try:
        tags = await client.list()
        assert tags.models[0].model == "llama3.2:latest"
        shown = await client.show("llama3.2")
        assert "tools" in (shown.capabilities or [])
        with pytest.raises(ollama.ResponseError) as err:
            await client.show("nope")
        assert err.value.status_code == 404
        fake_ollama.queue_reply("Hi.", tool_calls=[("timer_status", {})])
        reply = await client.chat(model="llama3.2", messages=[{"role": "user", "content": "x"}])
        assert reply.message.content == "Hi."
        assert reply.message.tool_calls[0].function.name == "timer_status"
        assert reply.done_reason == "stop"
    finally:
        await client.close()
