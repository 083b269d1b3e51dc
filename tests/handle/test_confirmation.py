"""Sensitive actions from the LLM wait for a spoken yes; local sentences act as HA's do.

The demo home has a lock (Front Door, locked) and a garage cover (Garage Door, closed,
device_class garage); the alarm case uses a small test home file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes import FakeOllama
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.actions import sensitive_verb
from wyoming_rtx.handle.conversations import ConversationStore
from wyoming_rtx.home.model import Entity
from wyoming_rtx.settings import HandleSettings

UNLOCK = ("turn_off", {"name": "Front Door"})
QUESTION = "Do you want me to unlock the Front Door?"


@pytest.fixture
async def llm_assistant(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher
) -> AsyncIterator[Assistant]:
    settings = HandleSettings(ollama_url=fake_ollama.url, llm_timeout=5.0)
    assistant = Assistant(settings, matcher=en_matcher)
    await assistant.start()
    yield assistant
    await assistant.stop()


def _state(assistant: Assistant, entity_id: str) -> str:
    return assistant.home.snapshot.entities[entity_id].state


async def _ask_to_unlock(assistant: Assistant, fake_ollama: FakeOllama, cid: str) -> None:
    fake_ollama.queue_reply("Sure.", tool_calls=[UNLOCK])
    deltas, answer = await ask(assistant, "let the plumber in", conversation_id=cid)
    assert (answer.text, answer.handled, answer.source) == (f"Sure. {QUESTION}", True, "llm")
    assert "".join(deltas) == f"Sure. {QUESTION}", "the question must be spoken, not only sent"
    assert _state(assistant, "lock.front_door") == "locked"
    assert len(fake_ollama.requests) == 1, "the model must not go on after the held call"


@pytest.mark.parametrize("yes", ["yes", "Yes, please!", "do it", "confirm", "OK."])
async def test_unlock_asks_and_a_yes_in_the_same_conversation_unlocks(
    llm_assistant: Assistant, fake_ollama: FakeOllama, yes: str
) -> None:
    await _ask_to_unlock(llm_assistant, fake_ollama, "c1")
    _, answer = await ask(llm_assistant, yes, conversation_id="c1")
    assert _state(llm_assistant, "lock.front_door") == "unlocked"
    assert (answer.text, answer.handled, answer.source) == ("Unlocking", True, "local")
    assert len(fake_ollama.requests) == 1, "the yes is ours to handle, not the model's"
    # The model sees the whole exchange next time.
    await ask(llm_assistant, "what just happened", conversation_id="c1")
    contents = [m["content"] for m in fake_ollama.requests[-1]["messages"]]
    assert contents[1:5] == ["let the plumber in", f"Sure. {QUESTION}", yes, "Unlocking"]


async def test_a_no_cancels_and_says_so(llm_assistant: Assistant, fake_ollama: FakeOllama) -> None:
    await _ask_to_unlock(llm_assistant, fake_ollama, "c2")
    _, answer = await ask(llm_assistant, "no", conversation_id="c2")
    assert answer.text == "Okay, I won't unlock the Front Door."
    assert _state(llm_assistant, "lock.front_door") == "locked"
    _, later = await ask(llm_assistant, "yes", conversation_id="c2")
    assert _state(llm_assistant, "lock.front_door") == "locked"
    assert later.source == "llm", "a late yes is an ordinary request"


async def test_anything_else_cancels_and_is_handled_as_a_new_request(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    await _ask_to_unlock(llm_assistant, fake_ollama, "c3")
    _, answer = await ask(llm_assistant, "turn on the kitchen light", conversation_id="c3")
    assert answer.source == "local" and _state(llm_assistant, "light.kitchen_light") == "on"
    await ask(llm_assistant, "yes", conversation_id="c3")
    assert _state(llm_assistant, "lock.front_door") == "locked"


async def test_a_yes_in_another_conversation_does_nothing(
    llm_assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    await _ask_to_unlock(llm_assistant, fake_ollama, "c4")
    await ask(llm_assistant, "yes", conversation_id="someone-else")
    assert _state(llm_assistant, "lock.front_door") == "locked"


async def test_the_question_expires(llm_assistant: Assistant, fake_ollama: FakeOllama) -> None:
    now = [0.0]
    llm_assistant.conversations = ConversationStore(clock=lambda: now[0])
    await _ask_to_unlock(llm_assistant, fake_ollama, "c5")
    now[0] = 61.0
    await ask(llm_assistant, "yes", conversation_id="c5")
    assert _state(llm_assistant, "lock.front_door") == "locked"


@pytest.mark.parametrize(
    ("call", "asks"),
    [
        (("turn_on", {"name": "Garage Door"}), "Do you want me to open the Garage Door?"),
        (("turn_on", {"area": "Garage"}), "Do you want me to open the Garage Door?"),
        (("turn_off", {"domain": "lock"}), QUESTION),
        (("turn_off", {"name": "Garage Door"}), None),
        (("turn_on", {"name": "Front Door"}), None),
        (("turn_on", {"name": "Living Room Blinds"}), None),
    ],
    ids=["open-garage", "garage-by-area", "all-locks", "close-garage", "lock", "blinds"],
)
async def test_which_calls_ask(
    llm_assistant: Assistant, fake_ollama: FakeOllama, call: tuple, asks: str | None
) -> None:
    before = dict(llm_assistant.home.snapshot.entities)
    fake_ollama.queue_reply(tool_calls=[call])
    fake_ollama.queue_reply("Done.")
    _, answer = await ask(llm_assistant, "please do something", conversation_id="c6")
    if asks is None:
        assert answer.text == "Done."
        tool = fake_ollama.requests[-1]["messages"][-1]
        assert json.loads(tool["content"])["success"] is True
    else:
        assert answer.text == asks
        assert llm_assistant.home.snapshot.entities == before, "nothing may change before yes"


def test_sensitive_verbs() -> None:
    assert sensitive_verb(Entity("lock.a", "A"), turn_on=False) == "unlock"
    assert sensitive_verb(Entity("lock.a", "A"), turn_on=True) is None
    for device_class in ("garage", "gate", "door"):
        cover = Entity("cover.a", "A", attributes={"device_class": device_class})
        assert sensitive_verb(cover, turn_on=True) == "open"
        assert sensitive_verb(cover, turn_on=False) is None
    blind = Entity("cover.a", "A", attributes={"device_class": "blind"})
    assert sensitive_verb(blind, turn_on=True) is None
    assert sensitive_verb(Entity("alarm_control_panel.a", "A"), turn_on=False) == "disarm"
    assert sensitive_verb(Entity("alarm_control_panel.a", "A"), turn_on=True) is None


async def test_alarm_disarm_asks(
    fake_ollama: FakeOllama, en_matcher: IntentMatcher, tmp_path: Path
) -> None:
    home = tmp_path / "home.yaml"
    home.write_text(
        "areas: [{id: hall, name: Hall}]\n"
        "entities:\n"
        "  - {id: alarm_control_panel.house, name: House Alarm, area: hall, state: armed_away}\n"
    )
    settings = HandleSettings(ollama_url=fake_ollama.url, home_file=home)
    assistant = Assistant(settings, matcher=en_matcher)
    await assistant.start()
    try:
        fake_ollama.queue_reply(tool_calls=[("turn_off", {"name": "House Alarm"})])
        _, answer = await ask(assistant, "I'm home, switch the alarm off", conversation_id="a")
        assert answer.text == "Do you want me to disarm the House Alarm?"
        assert _state(assistant, "alarm_control_panel.house") == "armed_away"
    finally:
        await assistant.stop()


@pytest.mark.parametrize(
    ("text", "entity_id", "state", "speech"),
    [
        ("unlock the front door", "lock.front_door", "unlocked", "Unlocking"),
        ("open the garage door", "cover.garage_door", "open", "Opening"),
    ],
)
async def test_local_sentences_act_at_once_as_home_assistant_does(
    llm_assistant: Assistant,
    fake_ollama: FakeOllama,
    text: str,
    entity_id: str,
    state: str,
    speech: str,
) -> None:
    """HA's default agent runs HassTurnOff on a lock (lock.unlock) and HassTurnOn on a garage
    cover (cover.open_cover) without a question, answering "Unlocking" / "Opening"; what may be
    controlled is decided by exposure to Assist."""
    _, answer = await ask(llm_assistant, text, conversation_id="l1")
    assert (answer.text, answer.source, answer.handled) == (speech, "local", True)
    assert _state(llm_assistant, entity_id) == state
    assert fake_ollama.requests == []
