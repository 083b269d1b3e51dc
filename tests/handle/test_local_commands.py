"""Spoken-style commands resolved locally, against the home file and the fake HA."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from tests.fakes import FakeHomeAssistant
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant
from wyoming_rtx.home.home_file import DEMO_HOME, parse_home

# (utterance, satellite area, entity, expected state afterwards, expected HA service)
COMMANDS: list[tuple[str, str | None, str, str, str]] = [
    ("turn on the kitchen light", None, "light.kitchen_light", "on", "light.turn_on"),
    ("Turn on the kitchen lamp.", None, "light.kitchen_light", "on", "light.turn_on"),
    ("switch off the living room lamp", None, "light.living_room_lamp", "off", "light.turn_off"),
    ("turn on the ceiling light", None, "light.ceiling_light", "on", "light.turn_on"),
    ("turn on the coffee maker", None, "switch.coffee_maker", "on", "switch.turn_on"),
    ("turn on the coffee machine", None, "switch.coffee_maker", "on", "switch.turn_on"),
    ("turn on the tv", None, "switch.tv", "on", "switch.turn_on"),
    ("turn on the television", None, "switch.tv", "on", "switch.turn_on"),
    ("turn on the ceiling fan", None, "fan.bedroom_fan", "on", "fan.turn_on"),
    ("turn on the bedroom fan", None, "fan.bedroom_fan", "on", "fan.turn_on"),
    ("open the garage door", None, "cover.garage_door", "open", "cover.open_cover"),
    ("open the living room blinds", None, "cover.living_room_blinds", "open", "cover.open_cover"),
    ("unlock the front door", None, "lock.front_door", "unlocked", "lock.unlock"),
    ("turn on the hallway light", None, "light.hallway_light", "on", "light.turn_on"),
    ("turn on the desk lamp", None, "light.desk_lamp", "on", "light.turn_on"),
    ("turn on the printer", None, "switch.printer", "on", "switch.turn_on"),
    ("turn on the bedside lamp", None, "light.bedside_lamp", "on", "light.turn_on"),
    ("turn on the lights in the bedroom", None, "light.bedroom_light", "on", "light.turn_on"),
    ("turn on the lights", "Kitchen", "light.kitchen_spots", "on", "light.turn_on"),
    ("turn on the lights", "Office", "light.desk_lamp", "on", "light.turn_on"),
    ("turn off the lights downstairs", None, "light.living_room_lamp", "off", "light.turn_off"),
    ("set the desk lamp to 40%", None, "light.desk_lamp", "on", "light.turn_on"),
]


def _entity_state(assistant: Assistant, entity_id: str) -> str:
    return assistant.home.snapshot.entities[entity_id].state


@pytest.mark.parametrize(("text", "area", "entity_id", "state", "service"), COMMANDS)
async def test_command_on_home_file(
    file_assistant: Assistant,
    text: str,
    area: str | None,
    entity_id: str,
    state: str,
    service: str,
) -> None:
    deltas, answer = await ask(file_assistant, text, area=area)
    assert deltas == []
    assert answer.handled and answer.source == "local", answer
    assert _entity_state(file_assistant, entity_id) == state


@pytest.mark.parametrize(("text", "area", "entity_id", "state", "service"), COMMANDS)
async def test_command_on_home_assistant(
    ha_assistant: Assistant,
    fake_ha: FakeHomeAssistant,
    text: str,
    area: str | None,
    entity_id: str,
    state: str,
    service: str,
) -> None:
    _, answer = await ask(ha_assistant, text, area=area)
    assert answer.handled and answer.source == "local", answer
    domain, name = service.split(".")
    calls = [c for c in fake_ha.calls if c.data.get("entity_id") == entity_id]
    assert [(c.domain, c.service) for c in calls] == [(domain, name)]
    assert fake_ha.state_of(entity_id) == state
    assert _entity_state(ha_assistant, entity_id) == state


async def test_spoken_answers_come_from_the_intents_templates(file_assistant: Assistant) -> None:
    expected = {
        "turn on the kitchen light": "Turned on the light",
        "turn on the lights in the bedroom": "Turned on the lights",
        "open the garage door": "Opening",
        "lock the front door": "Locking",
        "set the kitchen light to 50 percent": "Brightness set",
        "make the kitchen light red": "Color set",
        "is the kitchen light on": "Yes",
        "what's the temperature in the living room": "21.5 degrees",
        "set a timer for 5 minutes": "Timer set for 5 minutes",
        "never mind": "",
    }
    for text, speech in expected.items():
        _, answer = await ask(file_assistant, text)
        assert (answer.text, answer.handled) == (speech, True), text


async def test_light_set_brightness_and_colour(file_assistant: Assistant) -> None:
    await ask(file_assistant, "set the kitchen light to 50%")
    await ask(file_assistant, "make the kitchen light blue")
    light = file_assistant.home.snapshot.entities["light.kitchen_light"]
    assert (light.state, light.attributes["brightness"]) == ("on", 128)
    assert light.attributes["color_name"] == "blue"


async def test_get_state_questions(file_assistant: Assistant) -> None:
    _, answer = await ask(file_assistant, "which lights are on")
    assert answer.text == "Living Room Lamp"
    await ask(file_assistant, "turn on the desk lamp")
    _, answer = await ask(file_assistant, "which lights are on")
    assert answer.text == "Desk Lamp and Living Room Lamp"
    _, answer = await ask(file_assistant, "is the front door locked")
    assert answer.text == "Yes"
    _, answer = await ask(file_assistant, "is the tv on")
    assert answer.text.startswith("No")


async def test_area_context_only_touches_that_area(file_assistant: Assistant) -> None:
    _, answer = await ask(file_assistant, "turn on the lights", area="Kitchen")
    assert answer.text == "Turned on the lights"
    lights = {
        e.entity_id: e.state
        for e in file_assistant.home.snapshot.entities.values()
        if e.domain == "light"
    }
    assert lights["light.kitchen_light"] == lights["light.kitchen_spots"] == "on"
    assert lights["light.bedroom_light"] == lights["light.hallway_light"] == "off"
    _, answer = await ask(file_assistant, "turn on the lights", area="Garage")
    assert not answer.handled
    assert answer.text == "Sorry, I am not aware of any light in the Garage area"


async def test_satellite_area_from_home_assistant_registry(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    satellite = "assist_satellite.kitchen"
    _, answer = await ask(ha_assistant, "turn on the lights", satellite_id=satellite)
    assert answer.handled
    assert {c.data["entity_id"] for c in fake_ha.calls} == {
        "light.kitchen_light",
        "light.kitchen_spots",
    }


async def test_unexposed_entity_is_not_controllable(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    assert "light.secret_lab" not in ha_assistant.home.snapshot.entities
    _, answer = await ask(ha_assistant, "turn on the secret lab light")
    assert not answer.handled
    assert fake_ha.calls == []


async def test_time_date_and_timers(file_assistant: Assistant) -> None:
    _, answer = await ask(file_assistant, "what time is it")
    assert answer.text.endswith(("AM", "PM")) and answer.intent == "HassGetCurrentTime"
    _, answer = await ask(file_assistant, "what's the date")
    assert answer.intent == "HassGetCurrentDate" and answer.text[-4:].isdigit()
    await ask(file_assistant, "set a timer for 10 minutes")
    _, answer = await ask(file_assistant, "how much time is left on my timer")
    assert answer.text in ("10 minutes left.", "9 minutes and 59 seconds left.")
    _, answer = await ask(file_assistant, "cancel the timer")
    assert answer.text == "Timer cancelled" and file_assistant.timers.timers == []
    _, answer = await ask(file_assistant, "cancel the timer")
    assert not answer.handled and answer.text == "Sorry, I couldn't find that timer"


async def test_unmatched_without_llm_is_not_handled_with_help(file_assistant: Assistant) -> None:
    _, answer = await ask(file_assistant, "tell me a joke")
    assert (answer.handled, answer.source) == (False, "none")
    assert "turn devices on or off" in answer.text
    assert answer.conversation_id


@pytest.mark.parametrize(
    ("language", "text", "entity", "speech"),
    [
        ("de", "schalte das Kitchen Light ein", "light.kitchen_light", "eingeschaltet"),
        ("fr", "allume Kitchen Light", "light.kitchen_light", "allumé"),
    ],
)
async def test_other_language_by_configuration(
    language: str, text: str, entity: str, speech: str, **_: Any
) -> None:
    from wyoming_rtx.settings import HandleSettings

    assistant = Assistant(HandleSettings(language=language))
    await assistant.start()
    try:
        _, answer = await ask(assistant, text)
        assert answer.handled and answer.intent == "HassTurnOn", answer
        assert speech in answer.text.lower()
        assert assistant.home.snapshot.entities[entity].state == "on"
    finally:
        await assistant.stop()


def test_the_last_match_is_reused_until_the_home_changes(en_matcher) -> None:
    """A turn asks for the same text twice (speech-to-text's command check, then the answer):
    the second ask reuses the match; a changed snapshot (a new object) is matched afresh."""
    text = resources.files("wyoming_rtx.home").joinpath(DEMO_HOME).read_text(encoding="utf-8")
    home = parse_home(yaml.safe_load(text))
    first = en_matcher.match("turn on the kitchen light", home, None)
    assert first is not None and en_matcher.match("turn on the kitchen light", home, None) is first
    assert en_matcher.match("turn on the kitchen light", home, "Kitchen") is not first
    entity = home.entities["light.kitchen_light"]
    changed = home.with_entity(entity)
    again = en_matcher.match("turn on the kitchen light", changed, None)
    assert again is not first and again == first
