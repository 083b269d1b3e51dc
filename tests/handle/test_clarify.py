""" "Which room?": a command that needs an area, from a speaker that has none.

"turn on the lights" from a satellite without an area used to answer "Sorry, I didn't
understand that". Now the server asks which room when the home has lights in several, holds the
command on the conversation (the pending slot and expiry of the confirmations), and runs it in
the area or floor the next turn names; any other reply is a new request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from server_proc import RunningServer, launch, stop
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.handle import Handled

from tests.fakes import FakeHomeAssistant
from tests.handle.conftest import HA_TOKEN, populate
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant
from wyoming_rtx.handle.clarify import place_in_reply
from wyoming_rtx.handle.conversations import PENDING_SECONDS, WHICH_ROOM, ConversationStore

KITCHEN = {"light.kitchen_light", "light.kitchen_spots"}
LIVING_ROOM = {"light.living_room_lamp", "light.ceiling_light"}
FIRST_FLOOR = {"light.bedroom_light", "light.bedside_lamp", "light.desk_lamp"}


def _lights_on(assistant: Assistant) -> set[str]:
    return {
        e.entity_id
        for e in assistant.home.snapshot.entities.values()
        if e.domain == "light" and e.state == "on"
    }


async def test_lights_without_area_ask_which_room_then_run_there(
    file_assistant: Assistant,
) -> None:
    before = _lights_on(file_assistant)
    _, question = await ask(file_assistant, "turn on the lights", conversation_id="c1")
    assert (question.text, question.handled, question.source) == (WHICH_ROOM, True, "local")
    assert question.text.endswith("?")  # HA keeps the conversation open on a question
    assert question.conversation_id == "c1"
    assert _lights_on(file_assistant) == before  # nothing ran yet

    _, done = await ask(file_assistant, "the kitchen", conversation_id="c1")
    assert (done.text, done.handled, done.intent) == ("Turned on the lights", True, "HassTurnOn")
    assert _lights_on(file_assistant) == before | KITCHEN


@pytest.mark.parametrize(
    ("reply", "lights"),
    [
        ("the kitchen", KITCHEN),
        ("Kitchen", KITCHEN),
        ("In the living room.", LIVING_ROOM),
        ("lounge, please", LIVING_ROOM),  # an area alias
        ("upstairs", FIRST_FLOOR),  # a floor alias: every light on that floor
    ],
)
async def test_the_reply_names_the_room(
    file_assistant: Assistant, reply: str, lights: set[str]
) -> None:
    before = _lights_on(file_assistant)
    await ask(file_assistant, "turn on the lights", conversation_id="c")
    _, answer = await ask(file_assistant, reply, conversation_id="c")
    assert answer.handled, answer
    assert _lights_on(file_assistant) == before | lights


async def test_turn_off_and_brightness_ask_too(file_assistant: Assistant) -> None:
    _, question = await ask(file_assistant, "turn off the lights", conversation_id="off")
    assert question.text == WHICH_ROOM
    _, answer = await ask(file_assistant, "the living room", conversation_id="off")
    assert answer.text == "Turned off the lights"
    assert not _lights_on(file_assistant) & LIVING_ROOM

    _, question = await ask(file_assistant, "set the brightness to 30%", conversation_id="dim")
    assert question.text == WHICH_ROOM
    await ask(file_assistant, "office", conversation_id="dim")
    desk = file_assistant.home.snapshot.entities["light.desk_lamp"]
    assert (desk.state, desk.attributes["brightness"]) == ("on", round(30 * 255 / 100))


async def test_any_other_reply_cancels_and_is_a_new_request(file_assistant: Assistant) -> None:
    await ask(file_assistant, "turn on the lights", conversation_id="c")
    _, answer = await ask(file_assistant, "turn on the coffee maker", conversation_id="c")
    assert answer.handled and answer.text == "Turned on the switch"
    assert file_assistant.home.snapshot.entities["switch.coffee_maker"].state == "on"
    # The question was answered by something else: a room named now is no answer to it.
    _, late = await ask(file_assistant, "the kitchen", conversation_id="c")
    assert not late.handled
    assert not _lights_on(file_assistant) & KITCHEN


async def test_no_cancels_with_an_acknowledgement(file_assistant: Assistant) -> None:
    await ask(file_assistant, "Turn on the lights!", conversation_id="c")
    _, answer = await ask(file_assistant, "no", conversation_id="c")
    assert (answer.text, answer.handled) == ("Okay, I won't turn on the lights.", True)
    _, late = await ask(file_assistant, "kitchen", conversation_id="c")
    assert not late.handled
    assert not _lights_on(file_assistant) & KITCHEN


async def test_the_question_belongs_to_its_conversation(file_assistant: Assistant) -> None:
    await ask(file_assistant, "turn on the lights", conversation_id="a")
    _, other = await ask(file_assistant, "the kitchen", conversation_id="b")
    assert not other.handled
    assert not _lights_on(file_assistant) & KITCHEN


async def test_the_question_expires_like_a_confirmation(file_assistant: Assistant) -> None:
    now = [1000.0]
    file_assistant.conversations = ConversationStore(clock=lambda: now[0])
    await ask(file_assistant, "turn on the lights", conversation_id="c")
    now[0] += PENDING_SECONDS + 1
    _, answer = await ask(file_assistant, "the kitchen", conversation_id="c")
    assert not answer.handled
    assert not _lights_on(file_assistant) & KITCHEN


async def test_a_satellite_area_still_acts_at_once(file_assistant: Assistant) -> None:
    _, answer = await ask(file_assistant, "turn on the lights", area="Kitchen")
    assert answer.text == "Turned on the lights"
    assert KITCHEN <= _lights_on(file_assistant)


async def test_one_room_needs_no_question(file_assistant: Assistant) -> None:
    # The demo home has one fan: "turn on the fan" can only mean it.
    _, answer = await ask(file_assistant, "turn on the fan")
    assert (answer.text, answer.handled) == ("Turned on the fans", True)
    assert file_assistant.home.snapshot.entities["fan.bedroom_fan"].state == "on"


async def test_which_room_on_home_assistant(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    _, question = await ask(ha_assistant, "turn off the lights", conversation_id="c")
    assert question.text == WHICH_ROOM and fake_ha.calls == []
    _, answer = await ask(ha_assistant, "in the bedroom", conversation_id="c")
    assert answer.text == "Turned off the lights"
    assert sorted((c.domain, c.service, c.data["entity_id"]) for c in fake_ha.calls) == [
        ("light", "turn_off", "light.bedroom_light"),
        ("light", "turn_off", "light.bedside_lamp"),
    ]


@pytest.mark.parametrize(
    ("reply", "place"),
    [
        ("the kitchen", ("area", "Kitchen")),
        ("in the living room", ("area", "Living Room")),
        ("The office area, thanks.", ("area", "Office")),
        ("it's the lounge", ("area", "Living Room")),
        ("downstairs", ("floor", "Ground Floor")),
        ("the first floor", ("floor", "First Floor")),
        ("turn off the kitchen light", None),
        ("yes", None),
        ("", None),
    ],
)
def test_place_in_reply(
    file_assistant: Assistant, reply: str, place: tuple[str, str] | None
) -> None:
    assert place_in_reply(reply, file_assistant.home.snapshot) == place


# --- end to end: the real server over Wyoming TCP, as Home Assistant's conversation client ---

_TERMINAL = {"handled", "not-handled", "error", "not-recognized", "intent"}


async def _say(server: RunningServer, text: str, conversation_id: str) -> Event:
    """One `transcript` in a conversation, read to HA's terminal event."""
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        context = {"conversation_id": conversation_id}
        await client.write_event(Transcript(text, context=context, language="en").event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 15)
            assert event is not None, "connection closed before a terminal event"
            if event.type in _TERMINAL:
                return event


async def test_which_room_through_the_real_server(
    tmp_path: Path, demo_home: dict[str, Any]
) -> None:
    async with FakeHomeAssistant(token=HA_TOKEN) as ha:
        populate(ha, demo_home)
        server = await asyncio.to_thread(
            launch, tmp_path, "--ha-url", ha.url, "--ha-token", HA_TOKEN
        )
        try:
            event = await _say(server, "turn on the lights", "conv-1")
            assert event.type == "handled", event
            asked = Handled.from_event(event)
            assert asked.text == WHICH_ROOM
            assert (asked.context or {}).get("conversation_id") == "conv-1"
            assert ha.calls == []

            event = await _say(server, "the kitchen", "conv-1")
            assert event.type == "handled", event
            assert Handled.from_event(event).text == "Turned on the lights"
            assert sorted((c.domain, c.service, c.data["entity_id"]) for c in ha.calls) == [
                ("light", "turn_on", "light.kitchen_light"),
                ("light", "turn_on", "light.kitchen_spots"),
            ]

            # The thermostat, locally, with Home Assistant's service-call shape.
            event = await _say(server, "set the thermostat to 23 degrees", "conv-2")
            assert Handled.from_event(event).text == "Temperature set to 23 degrees"
            call = ha.calls[-1]
            assert (call.domain, call.service) == ("climate", "set_temperature")
            assert call.data == {"entity_id": "climate.thermostat", "temperature": 23}
            assert ha.entities["climate.thermostat"].attributes["temperature"] == 23
        finally:
            code = await asyncio.to_thread(stop, server)
        assert code == 0, server.log()
        assert HA_TOKEN not in server.log()
