"""Issue 18, points 2 and 4, through the real server over Wyoming TCP, as Home Assistant asks.

`python -m wyoming_rtx` runs as a subprocess with the demo home and `--ollama-url` pointing at
the fake Ollama in this process; each request is HA's conversation exchange (a fresh
connection, `transcript{text, context:{conversation_id}}`, read until handled/not-handled).
Both LLM timeouts are 20 s, so an answer within 3 s can only come from the failure itself.
"""

from __future__ import annotations

import json
import time

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled, NotHandled
from wyoming_helpers import ServerProcess, read_until, start_server

from tests.fakes import FakeOllama

QUESTION = "Do you want me to unlock the Front Door?"


async def converse(
    port: int, text: str, conversation_id: str
) -> tuple[Handled | NotHandled, float]:
    """HA's conversation exchange; the answer and the seconds it took."""
    started = time.monotonic()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        context = {"conversation_id": conversation_id}
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        events = await read_until(client, "handled", "not-handled", timeout=30)
    elapsed = time.monotonic() - started
    last = events[-1]
    answer = Handled.from_event(last) if last.type == "handled" else NotHandled.from_event(last)
    return answer, elapsed


def _tool_results(fake_ollama: FakeOllama) -> list[dict]:
    messages = fake_ollama.requests[-1]["messages"]
    return [json.loads(m["content"]) for m in messages if m["role"] == "tool"]


def _system(fake_ollama: FakeOllama) -> str:
    return str(fake_ollama.requests[-1]["messages"][0]["content"])


async def _failures(server: ServerProcess, fake_ollama: FakeOllama) -> None:
    # The issue's case: a tool argument of the wrong type. It goes back to the model, which
    # answers; nobody waits for --llm-timeout.
    fake_ollama.queue_reply(
        tool_calls=[("set_light", {"name": "Kitchen Light", "brightness": {"percent": 50}})]
    )
    fake_ollama.queue_reply("Sorry, I could not set that brightness.")
    answer, elapsed = await converse(server.port, "kitchen light to fifty-ish", "e2e-type")
    assert elapsed < 3.0, elapsed
    assert answer.text == "Sorry, I could not set that brightness."
    (result,) = _tool_results(fake_ollama)
    assert "must be an integer" in result["error"]

    # A duration no clock can hold (HA's own schema, positive_int, accepts it): a tool error
    # the model is told about, not a crash (it raised OverflowError before).
    fake_ollama.queue_reply(tool_calls=[("start_timer", {"hours": 10**400})])
    fake_ollama.queue_reply("That timer is too long for me.")
    answer, elapsed = await converse(server.port, "a timer until the sun burns out", "e2e-raise")
    assert elapsed < 3.0, elapsed
    assert answer.text == "That timer is too long for me."
    (result,) = _tool_results(fake_ollama)
    assert result["success"] is False
    assert "OverflowError" not in "\n".join(server.log)


async def _confirmation(server: ServerProcess, fake_ollama: FakeOllama) -> None:
    fake_ollama.queue_reply(tool_calls=[("turn_off", {"name": "Front Door"})])
    answer, _ = await converse(server.port, "let the plumber in", "e2e-yes")
    assert isinstance(answer, Handled) and answer.text == QUESTION
    answer, _ = await converse(server.port, "yes", "e2e-yes")
    assert isinstance(answer, Handled) and answer.text == "Unlocking"
    fake_ollama.queue_reply("It is unlocked.")
    await converse(server.port, "is the door open now", "e2e-check-1")
    assert "- Front Door | Hallway | lock unlocked" in _system(fake_ollama)

    # Lock it again (locking never asks), then ask to unlock and say no.
    answer, _ = await converse(server.port, "lock the front door", "e2e-lock")
    assert answer.text == "Locking"
    fake_ollama.queue_reply(tool_calls=[("turn_off", {"name": "Front Door"})])
    answer, _ = await converse(server.port, "let the plumber in", "e2e-no")
    assert answer.text == QUESTION
    answer, _ = await converse(server.port, "no", "e2e-no")
    assert answer.text == "Okay, I won't unlock the Front Door."
    fake_ollama.queue_reply("It is locked.")
    await converse(server.port, "is the door open now", "e2e-check-2")
    assert "- Front Door | Hallway | lock locked" in _system(fake_ollama)


@pytest.mark.timeout(240)
async def test_llm_failures_and_confirmations_through_the_real_server(
    fake_ollama: FakeOllama,
) -> None:
    server = await start_server(
        "--ollama-url",
        fake_ollama.url,
        "--llm-timeout",
        "20",
        "--llm-first-token-timeout",
        "20",
    )
    try:
        await _failures(server, fake_ollama)
        await _confirmation(server, fake_ollama)
    finally:
        assert await server.stop() == 0
