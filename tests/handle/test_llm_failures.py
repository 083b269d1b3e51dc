"""LLM failures are fast and visible: any exception is answered at once with its traceback in
the log, malformed tool calls go back to the model, and the first-token wait is separate from
the silence allowed once the model has started.

Timeouts are set far above the times asserted (20 s against "answered within 3 s"), so a slow
machine cannot make a passing run fail, while the old behaviour (waiting out `llm_timeout`)
cannot pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes import FakeOllama, Reply
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.llm import APOLOGY, ERROR_APOLOGY
from wyoming_rtx.settings import HandleSettings

SLOW = 20.0
"""Both LLM timeouts in the tests that must not wait for a timeout."""


async def _assistant(url: str, matcher: IntentMatcher, **settings: Any) -> Assistant:
    assistant = Assistant(HandleSettings(ollama_url=url, **settings), matcher=matcher)
    await assistant.start()
    return assistant


@pytest.fixture
async def patient(fake_ollama: FakeOllama, en_matcher: IntentMatcher) -> AsyncIterator[Assistant]:
    """An assistant whose LLM timeouts are 20 s: any quick answer came from the failure."""
    assistant = await _assistant(
        fake_ollama.url, en_matcher, llm_timeout=SLOW, llm_first_token_timeout=SLOW
    )
    yield assistant
    await assistant.stop()


def _tool_messages(fake_ollama: FakeOllama) -> list[dict[str, Any]]:
    return [m for m in fake_ollama.requests[-1]["messages"] if m["role"] == "tool"]


def _tracebacks(caplog: pytest.LogCaptureFixture, kind: type[BaseException]) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.exc_info and r.exc_info[0] is not None and issubclass(r.exc_info[0], kind)
    ]


async def test_a_tool_raising_is_logged_with_traceback_and_told_to_the_model(
    patient: Assistant, fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand type(s)")

    patient.home.call_service = broken  # type: ignore[method-assign]
    fake_ollama.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
    fake_ollama.queue_reply("Sorry, the kitchen light did not respond.")
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    _, answer = await ask(patient, "it is too dark to cook in here")
    assert time.monotonic() - started < 3.0
    assert (answer.text, answer.handled) == ("Sorry, the kitchen light did not respond.", True)
    (tool,) = _tool_messages(fake_ollama)
    result = json.loads(tool["content"])
    assert result["success"] is False and "TypeError" in result["error"]
    assert _tracebacks(caplog, TypeError) == ["LLM tool turn_on({'name': 'Kitchen Light'}) failed"]


async def test_an_exception_outside_the_tools_apologises_at_once(
    patient: Assistant, fake_ollama: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("'NoneType' object is not subscriptable")

    assert patient.llm is not None
    patient.llm.tools.run = broken  # type: ignore[method-assign]
    fake_ollama.queue_reply("Let me see.", tool_calls=[("timer_status", {})])
    started = time.monotonic()
    deltas, answer = await ask(patient, "any timers running")
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"answered after {elapsed:.1f} s, not at the failure"
    assert (answer.source, answer.handled) == ("error", False)
    assert answer.text == f"Let me see. {ERROR_APOLOGY}"
    assert deltas[-1] == f" {ERROR_APOLOGY}"
    assert _tracebacks(caplog, TypeError) == ["The LLM answer to 'any timers running' failed"]
    # The next request works as before: the failure left nothing behind.
    fake_ollama.queue_reply("Still here.")
    _, again = await ask(patient, "hello")
    assert again.text == "Still here."


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("set_light", {"name": "Kitchen Light", "brightness": {"percent": 50}}), "integer"),
        (("set_light", {"name": "Kitchen Light", "brightness": 150}), "between 0 and 100"),
        (("set_light", {"name": "Kitchen Light"}), "brightness, color"),
        (("turn_on", {"name": ["Kitchen Light"]}), "must be a string"),
        (("turn_on", {}), "name, area, domain"),
        (("turn_on", {"entity_id": "light.kitchen_light"}), "unknown argument 'entity_id'"),
        (("open_sesame", {"name": "Kitchen Light"}), "unknown tool 'open_sesame'"),
        (("start_timer", {"minutes": "five"}), "integer"),
    ],
    ids=[
        "wrong-type",
        "out-of-range",
        "missing-setting",
        "list-for-string",
        "no-target",
        "unknown-argument",
        "unknown-tool",
        "word-for-number",
    ],
)
async def test_malformed_tool_calls_go_back_to_the_model(
    patient: Assistant, fake_ollama: FakeOllama, call: tuple[str, Any], error: str
) -> None:
    before = patient.home.snapshot
    fake_ollama.queue_reply(tool_calls=[call])
    fake_ollama.queue_reply("I could not do that.")
    started = time.monotonic()
    _, answer = await ask(patient, "do the thing")
    assert time.monotonic() - started < 3.0
    assert (answer.text, answer.handled, answer.source) == ("I could not do that.", True, "llm")
    (tool,) = _tool_messages(fake_ollama)
    result = json.loads(tool["content"])
    assert result["success"] is False and error in result["error"], result
    assert tool["tool_name"] == call[0]
    assert patient.home.snapshot.entities == before.entities, "a malformed call changed state"


async def test_the_model_corrects_a_malformed_call(
    patient: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.queue_reply(
        tool_calls=[("set_light", {"name": "Kitchen Light", "brightness": "half"})]
    )
    fake_ollama.queue_reply(tool_calls=[("set_light", {"name": "Kitchen Light", "brightness": 50})])
    fake_ollama.queue_reply("The kitchen light is at half.")
    _, answer = await ask(patient, "kitchen light to half")
    assert answer.text == "The kitchen light is at half."
    assert patient.home.snapshot.entities["light.kitchen_light"].attributes["brightness"] == 128


async def test_arguments_that_are_not_an_object_are_a_tool_error(patient: Assistant) -> None:
    assert patient.llm is not None
    for arguments in (["Kitchen Light"], "Kitchen Light", 3):
        result = await patient.llm.tools.run("turn_on", arguments)
        content = json.loads(result.content)
        assert content == {
            "success": False,
            "error": f"arguments must be a JSON object, not {arguments!r}",
        }
    ok = json.loads(
        (
            await patient.llm.tools.run("set_light", {"name": "Kitchen Light", "brightness": "40"})
        ).content
    )
    assert ok["success"] is True, "digit strings are integers, as HA's vol.Coerce(int) reads them"


async def test_a_slow_first_token_waits_for_the_first_token_timeout(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher
) -> None:
    assistant = await _assistant(
        fake_ollama.url, en_matcher, llm_timeout=0.3, llm_first_token_timeout=2.0
    )
    try:
        # A cold load: 1 s before anything, then thinking, then words. Longer than
        # llm_timeout, so the old single bound would have apologised.
        fake_ollama.queue_reply("Here you go.", delay=1.0, thinking="The user wants a story.")
        _, answer = await ask(assistant, "tell me a story")
        assert (answer.text, answer.handled) == ("Here you go.", True)
        # Nothing at all: the apology comes at the first-token timeout, not before.
        fake_ollama.queue_reply("Too late.", delay=10.0)
        started = time.monotonic()
        _, answer = await ask(assistant, "tell me another story")
        elapsed = time.monotonic() - started
        assert 1.9 < elapsed < 4.0, elapsed
        assert (answer.text, answer.source) == (APOLOGY, "error")
    finally:
        await assistant.stop()


async def test_silence_after_the_first_words_is_bounded_by_llm_timeout(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = await _assistant(
        fake_ollama.url, en_matcher, llm_timeout=1.0, llm_first_token_timeout=SLOW
    )
    try:
        fake_ollama.stall_after_tokens = (2, 10.0)
        fake_ollama.queue_reply("once upon a time")
        started = time.monotonic()
        deltas, answer = await ask(assistant, "tell me a story")
        elapsed = time.monotonic() - started
        assert 0.9 < elapsed < 3.0, elapsed
        assert answer.text == f"once upon {APOLOGY}" and not answer.handled
        assert "silent for 1 s mid-answer" in caplog.text
    finally:
        await assistant.stop()


async def test_tool_time_does_not_count_as_the_models_silence(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher
) -> None:
    """Two tools of 1.2 s each and a 1.2 s second round: 3.6 s without a word, but never
    2 s without progress, so the answer is not cut off at `llm_timeout`."""
    assistant = await _assistant(
        fake_ollama.url, en_matcher, llm_timeout=2.0, llm_first_token_timeout=SLOW
    )
    real_call = assistant.home.call_service

    async def slow_call(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(1.2)
        await real_call(*args, **kwargs)

    assistant.home.call_service = slow_call  # type: ignore[method-assign]
    try:
        fake_ollama.queue_reply(
            tool_calls=[("turn_on", {"name": "Kitchen Light"}), ("turn_on", {"name": "TV"})]
        )
        fake_ollama.queue_reply("Kitchen light and TV are on.", delay=1.2)
        started = time.monotonic()
        _, answer = await ask(assistant, "cooking and watching something")
        assert time.monotonic() - started > 3.5
        assert (answer.text, answer.handled) == ("Kitchen light and TV are on.", True)
        # But a tool that hangs past llm_timeout ends the answer.
        fake_ollama.responder = lambda body: (
            Reply(tool_calls=[("turn_off", {"name": "TV"})]) if body["tools"] else Reply("x")
        )

        async def hung_call(*args: Any, **kwargs: Any) -> None:
            await asyncio.sleep(30)

        assistant.home.call_service = hung_call  # type: ignore[method-assign]
        started = time.monotonic()
        _, answer = await ask(assistant, "make the living room quiet please")
        assert 1.9 < time.monotonic() - started < 4.0
        assert answer.text == APOLOGY
    finally:
        await assistant.stop()
