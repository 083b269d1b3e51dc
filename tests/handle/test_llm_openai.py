"""The OpenAI-compatible backend (`--llm-url`) through the agent, against a fake server written
to the published Chat Completions streaming shapes (tests/fakes/openai_server.py).

The same behaviour as with Ollama is asserted: tool calls change state, parallel calls, a
malformed call is a tool error the model hears, confirmations, the two time bounds and the
apologies; plus what is this API's own: arguments streamed as string fragments, call ids
echoed in the tool results, only standard request parameters, the Bearer key and a clear
401.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes import FakeOpenAi
from tests.handle.helpers import ask
from tests.web.helpers import build_app
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.llm import APOLOGY
from wyoming_rtx.handle.llm_backend import OUTPUT, ToolCall
from wyoming_rtx.handle.llm_openai import OpenAiBackend
from wyoming_rtx.handle.llm_tools import InvalidJson
from wyoming_rtx.settings import HandleSettings
from wyoming_rtx.web.app import status_sources
from wyoming_rtx.web.status import StatusCollector

KEY = "sk-test-0123456789"
SLOW = 20.0
QUESTION = "Do you want me to unlock the Front Door?"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAi]:
    async with FakeOpenAi(api_key=KEY) as fake:
        yield fake


async def _assistant(
    url: str, matcher: IntentMatcher, key: str | None = KEY, **settings: Any
) -> Assistant:
    handle = HandleSettings(llm_url=url, llm_api_key=key, llm_model="x", **settings)
    assistant = Assistant(handle, matcher=matcher)
    await assistant.start()
    return assistant


@pytest.fixture
async def patient(server: FakeOpenAi, en_matcher: IntentMatcher) -> AsyncIterator[Assistant]:
    """LLM timeouts of 20 s: any quick answer came from the failure itself."""
    assistant = await _assistant(
        server.url, en_matcher, llm_timeout=SLOW, llm_first_token_timeout=SLOW
    )
    yield assistant
    await assistant.stop()


def _tool_messages(server: FakeOpenAi) -> list[dict[str, Any]]:
    return [m for m in server.requests[-1]["messages"] if m["role"] == "tool"]


def _state(assistant: Assistant, entity_id: str) -> str:
    return assistant.home.snapshot.entities[entity_id].state


async def test_a_documented_stream_is_read_into_text_and_whole_tool_calls() -> None:
    """A transcript in the API reference's shapes, independent of our fake: a role chunk,
    text, two calls whose arguments arrive in fragments, finish_reason, [DONE]."""

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "x",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n"

    def piece(index: int, arguments: str, **first: Any) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if first:
            call.update(id=first["id"], type="function")
            call["function"]["name"] = first["name"]
        return {"tool_calls": [call]}

    body = "".join(
        [
            ": keep-alive\n\n",
            event({"role": "assistant", "content": ""}),
            event({"content": "Sure."}),
            event(piece(0, "", id="call_a", name="turn_on")),
            event(piece(0, '{"na')),
            event(piece(0, 'me": "Kitchen Light"}')),
            event(piece(1, '{"name"', id="call_b", name="turn_off")),
            event(piece(1, ': "TV"}')),
            event({}, "tool_calls"),
            "data: [DONE]\n\n",
        ]
    )
    backend = OpenAiBackend(HandleSettings(llm_url="http://unused/v1"))
    response = httpx.Response(200, content=body.encode())
    items = [item async for item in backend._read(response)]  # noqa: SLF001
    assert items[0] == "Sure."
    assert items[1:6] == [OUTPUT] * 5, "each piece of a call is progress"
    assert items[6:] == [
        ToolCall("turn_on", {"name": "Kitchen Light"}, "call_a", '{"name": "Kitchen Light"}'),
        ToolCall("turn_off", {"name": "TV"}, "call_b", '{"name": "TV"}'),
    ]


async def test_a_tool_call_in_fragments_turns_on_a_light(
    patient: Assistant, server: FakeOpenAi
) -> None:
    server.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
    server.queue_reply("The kitchen is bright now.")
    deltas, answer = await ask(patient, "it's too dark to cook in here")
    assert _state(patient, "light.kitchen_light") == "on"
    assert (answer.text, answer.handled, answer.source) == (
        "The kitchen is bright now.",
        True,
        "llm",
    )
    assert len(deltas) > 1, "text must stream in deltas"
    first, second = server.requests
    assert set(first) == {"model", "messages", "tools", "stream"}, "only standard parameters"
    assert first["model"] == "x" and first["stream"] is True
    assert "turn_on" in {t["function"]["name"] for t in first["tools"]}
    assistant_turn, tool = second["messages"][-2:]
    (call,) = assistant_turn["tool_calls"]
    assert call["function"] == {"name": "turn_on", "arguments": '{"name": "Kitchen Light"}'}
    assert tool["tool_call_id"] == call["id"] and call["id"].startswith("call_")
    assert json.loads(tool["content"])["success"] is True
    assert all(h["Authorization"] == f"Bearer {KEY}" for h in server.headers)


async def test_two_parallel_tool_calls_each_get_their_result(
    patient: Assistant, server: FakeOpenAi
) -> None:
    server.queue_reply(
        tool_calls=[("turn_on", {"name": "Kitchen Light"}), ("turn_on", {"name": "TV"})]
    )
    server.queue_reply("Kitchen light and TV are on.")
    _, answer = await ask(patient, "cooking and watching something")
    assert answer.text == "Kitchen light and TV are on."
    assert _state(patient, "light.kitchen_light") == "on"
    assert _state(patient, "switch.tv") == "on"
    calls = server.requests[-1]["messages"][-3]["tool_calls"]
    results = _tool_messages(server)
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]
    assert len({c["id"] for c in calls}) == 2


async def test_arguments_that_are_not_json_are_a_tool_error_the_model_hears(
    patient: Assistant, server: FakeOpenAi
) -> None:
    before = patient.home.snapshot.entities
    server.queue_reply(tool_calls=[("turn_on", '{"name": "Kitchen Li')])
    server.queue_reply("Sorry, I could not do that.")
    started = time.monotonic()
    _, answer = await ask(patient, "do the thing")
    assert time.monotonic() - started < 3.0
    assert (answer.text, answer.handled) == ("Sorry, I could not do that.", True)
    (tool,) = _tool_messages(server)
    error = json.loads(tool["content"])["error"]
    assert error.startswith("arguments are not valid JSON (Unterminated string"), error
    call = server.requests[-1]["messages"][-2]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"name": "Kitchen Li', "sent back as streamed"
    assert patient.home.snapshot.entities == before


def test_the_arguments_parser() -> None:
    from wyoming_rtx.handle.llm_openai import parse_arguments

    assert parse_arguments("") == {} and parse_arguments(' {"a": 1} ') == {"a": 1}
    assert isinstance(parse_arguments("{"), InvalidJson)
    assert parse_arguments('"x"') == "x", "valid JSON that is not an object: validated later"


async def test_the_confirmation_flow_works_on_this_backend(
    patient: Assistant, server: FakeOpenAi
) -> None:
    server.queue_reply("Sure.", tool_calls=[("turn_off", {"name": "Front Door"})])
    deltas, answer = await ask(patient, "let the plumber in", conversation_id="c1")
    assert (answer.text, answer.handled) == (f"Sure. {QUESTION}", True)
    assert "".join(deltas) == f"Sure. {QUESTION}"
    assert _state(patient, "lock.front_door") == "locked"
    assert len(server.requests) == 1, "the model must not go on after the held call"
    _, answer = await ask(patient, "yes", conversation_id="c1")
    assert (answer.text, answer.source) == ("Unlocking", "local")
    assert _state(patient, "lock.front_door") == "unlocked"
    server.queue_reply("It is unlocked.")
    _, answer = await ask(patient, "what just happened", conversation_id="c1")
    contents = [m["content"] for m in server.requests[-1]["messages"]]
    assert contents[1:5] == ["let the plumber in", f"Sure. {QUESTION}", "yes", "Unlocking"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sk-wrong-key", "HTTP 401, the API key was refused: Incorrect API key provided."),
        (None, "HTTP 401, it wants an API key (--llm-api-key-file or WYOMING_RTX_LLM_API_KEY)"),
    ],
    ids=["wrong-key", "no-key"],
)
async def test_a_refused_key_apologises_and_says_why_in_the_log(
    server: FakeOpenAi,
    en_matcher: IntentMatcher,
    caplog: pytest.LogCaptureFixture,
    key: str | None,
    expected: str,
) -> None:
    assistant = await _assistant(
        server.url, en_matcher, key=key, llm_timeout=SLOW, llm_first_token_timeout=SLOW
    )
    caplog.set_level(logging.WARNING)
    try:
        started = time.monotonic()
        _, answer = await ask(assistant, "tell me a story")
        assert time.monotonic() - started < 3.0
        assert (answer.text, answer.source) == (APOLOGY, "error")
        (line,) = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert line.startswith(f"The OpenAI-compatible LLM server at {server.url} failed: ")
        assert expected in line
        assert "sk-wrong-key" not in caplog.text, "the key is never logged"
    finally:
        await assistant.stop()


async def test_an_unreachable_server_apologises_quickly_naming_the_llm_server(
    patient: Assistant, server: FakeOpenAi, caplog: pytest.LogCaptureFixture
) -> None:
    await server.go_down()
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    _, answer = await ask(patient, "tell me a story")
    assert time.monotonic() - started < 3.0
    assert (answer.text, answer.handled, answer.source) == (APOLOGY, False, "error")
    assert "Ollama" not in answer.text and "Ollama" not in caplog.text
    assert "The OpenAI-compatible LLM server at" in caplog.text
    _, local = await ask(patient, "turn on the kitchen light")
    assert local.handled and local.source == "local"
    await server.come_up()
    server.queue_reply("Back again.")
    _, answer = await ask(patient, "hello")
    assert answer.text == "Back again."


async def test_a_slow_first_token_waits_for_the_first_token_timeout(
    server: FakeOpenAi, en_matcher: IntentMatcher
) -> None:
    assistant = await _assistant(
        server.url, en_matcher, llm_timeout=0.3, llm_first_token_timeout=2.0
    )
    try:
        server.queue_reply("Here you go.", delay=1.0)  # a cold load, longer than llm_timeout
        _, answer = await ask(assistant, "tell me a story")
        assert (answer.text, answer.handled) == ("Here you go.", True)
        server.queue_reply("Too late.", delay=10.0)
        started = time.monotonic()
        _, answer = await ask(assistant, "tell me another story")
        assert 1.9 < time.monotonic() - started < 4.0
        assert (answer.text, answer.source) == (APOLOGY, "error")
    finally:
        await assistant.stop()


async def test_a_stall_mid_answer_is_bounded_by_llm_timeout(
    server: FakeOpenAi, en_matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = await _assistant(
        server.url, en_matcher, llm_timeout=1.0, llm_first_token_timeout=SLOW
    )
    try:
        server.stall_after_tokens = (2, 10.0)
        server.queue_reply("once upon a time")
        started = time.monotonic()
        _, answer = await ask(assistant, "tell me a story")
        assert 0.9 < time.monotonic() - started < 3.0
        assert answer.text == f"once upon {APOLOGY}" and not answer.handled
        assert "silent for 1 s mid-answer" in caplog.text
    finally:
        await assistant.stop()


async def test_a_stream_cut_before_done_ends_with_an_apology(
    patient: Assistant, server: FakeOpenAi
) -> None:
    server.close_after_tokens = 2
    server.queue_reply("one two three four five")
    deltas, answer = await ask(patient, "count to five")
    assert deltas[:2] == ["one ", "two "]
    assert answer.text == f"one two {APOLOGY}" and not answer.handled


async def test_an_unknown_model_apologises(patient: Assistant, server: FakeOpenAi) -> None:
    server.models = ("qwen3",)
    _, answer = await ask(patient, "hello there")
    assert answer.text == APOLOGY


async def test_the_status_page_probes_the_models_list_with_the_key(server: FakeOpenAi) -> None:
    app = build_app(HandleSettings(llm_url=server.url, llm_api_key=KEY, llm_model="x"))
    collector = StatusCollector(status_sources(app), probe_interval=60)
    await collector.start()
    try:
        await collector.refresh()
        llm = collector.reachability()["ollama"]
        assert (llm["kind"], llm["reachable"], llm["url"], llm["model"]) == (
            "openai",
            True,
            server.url,
            "x",
        )
        server.api_key = "another-key"
        await collector.refresh()
        assert collector.reachability()["ollama"]["reachable"] is False
    finally:
        await collector.stop()


async def test_the_end_of_a_stream_is_done_or_a_finish_reason() -> None:
    """`[DONE]` ends a round; so does a server closing after `finish_reason`; a stream cut
    before either is broken, so a half-streamed tool call never runs."""
    from wyoming_rtx.handle.llm_backend import LlmServerError

    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"

    backend = OpenAiBackend(HandleSettings(llm_url="http://unused/v1"))
    call = {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "timer_status"}}]}

    async def read(body: str) -> list[Any]:
        response = httpx.Response(200, content=body.encode())
        return [item async for item in backend._read(response)]  # noqa: SLF001

    closed = await read(chunk(call, None) + chunk({}, "tool_calls"))
    assert closed[-1] == ToolCall("timer_status", {}, "c", "")
    with pytest.raises(LlmServerError, match="before data: \\[DONE\\]"):
        await read(chunk(call, None))


async def test_tool_rounds_are_bounded_and_the_last_round_sends_no_tools(
    patient: Assistant, server: FakeOpenAi
) -> None:
    from tests.fakes import Reply

    server.responder = lambda body: (
        Reply(tool_calls=[("get_state", {"name": "TV"})])
        if "tools" in body
        else Reply("Giving up.")
    )
    _, answer = await ask(patient, "keep checking the tv forever")
    assert answer.text == "Giving up."
    assert len(server.requests) == 6  # 5 tool rounds, then one answer without tools
    assert "tools" not in server.requests[-1], "an empty tools array is refused by OpenAI"
    assert len(_tool_messages(server)) == 5
