"""HassClimateSetTemperature runs locally: "set the thermostat to 23 degrees".

As Home Assistant's SetTemperatureIntent does: `climate.set_temperature` with `temperature` on
exactly one thermostat (the named one, the area's, or the home's only one), answered with the
intents package's response.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes import FakeHomeAssistant
from tests.fakes.ha_server import ServiceCall
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.conversations import WHICH_ROOM
from wyoming_rtx.settings import HandleSettings


def _target(assistant: Assistant, entity_id: str = "climate.thermostat") -> Any:
    return assistant.home.snapshot.entities[entity_id].attributes.get("temperature")


@pytest.mark.parametrize(
    ("text", "area", "temperature"),
    [
        ("set the thermostat to 23 degrees", None, 23),
        ("Set the thermostat to 23°.", None, 23),
        ("set the thermostat to 21.5 degrees", None, 21.5),
        ("set the temperature to 21", None, 21),  # the home's only thermostat
        ("set the temperature in the living room to 19", None, 19),
        ("set the temperature to 22", "Living Room", 22),  # the satellite's room
        ("set the temperature on the ground floor to 20", None, 20),
    ],
)
async def test_set_temperature_on_home_file(
    file_assistant: Assistant, text: str, area: str | None, temperature: float
) -> None:
    deltas, answer = await ask(file_assistant, text, area=area)
    assert deltas == []
    assert (answer.handled, answer.source, answer.intent) == (
        True,
        "local",
        "HassClimateSetTemperature",
    )
    assert answer.text == f"Temperature set to {temperature} degrees"
    assert _target(file_assistant) == temperature
    assert file_assistant.home.snapshot.entities["climate.thermostat"].state == "heat"


async def test_a_room_without_thermostat_says_so(file_assistant: Assistant) -> None:
    # As in Home Assistant, the satellite's area is a constraint: the living room's
    # thermostat is not the kitchen's.
    _, answer = await ask(file_assistant, "set the temperature to 25", area="Kitchen")
    assert not answer.handled
    assert answer.text == "Sorry, I am not aware of any climate in the Kitchen area"
    assert _target(file_assistant) == 21


async def test_set_temperature_on_home_assistant(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    _, answer = await ask(ha_assistant, "set the thermostat to 23 degrees")
    assert (answer.text, answer.handled) == ("Temperature set to 23 degrees", True)
    # Home Assistant's REST shape: entity_id and the service data in one JSON body.
    assert fake_ha.calls == [
        ServiceCall(
            "climate", "set_temperature", {"entity_id": "climate.thermostat", "temperature": 23}
        )
    ]
    assert fake_ha.entities["climate.thermostat"].attributes["temperature"] == 23
    assert fake_ha.state_of("climate.thermostat") == "heat"
    assert _target(ha_assistant) == 23  # the changed state HA returned was applied


@pytest.fixture
async def two_thermostats(
    tmp_path: Path, en_matcher: IntentMatcher, demo_home: dict[str, Any]
) -> AsyncIterator[Assistant]:
    """The demo home with a second thermostat, in the bedroom."""
    home = copy.deepcopy(demo_home)
    home["entities"].append(
        {
            "id": "climate.bedroom",
            "name": "Bedroom Heater",
            "area": "bedroom",
            "state": "heat",
            "attributes": {"current_temperature": 18, "temperature": 18},
        }
    )
    path = tmp_path / "home.yaml"
    path.write_text(yaml.safe_dump(home))
    assistant = Assistant(HandleSettings(home_file=path), matcher=en_matcher)
    await assistant.start()
    yield assistant
    await assistant.stop()


async def test_two_thermostats_ask_which_room(two_thermostats: Assistant) -> None:
    _, question = await ask(two_thermostats, "set the temperature to 20", conversation_id="c")
    assert (question.text, question.handled) == (WHICH_ROOM, True)
    assert (_target(two_thermostats), _target(two_thermostats, "climate.bedroom")) == (21, 18)
    _, answer = await ask(two_thermostats, "the bedroom", conversation_id="c")
    assert answer.text == "Temperature set to 20 degrees"
    assert (_target(two_thermostats), _target(two_thermostats, "climate.bedroom")) == (21, 20)


async def test_two_thermostats_by_name_and_by_satellite(two_thermostats: Assistant) -> None:
    await ask(two_thermostats, "set the bedroom heater to 17 degrees")
    assert _target(two_thermostats, "climate.bedroom") == 17
    await ask(two_thermostats, "set the temperature to 23", area="Living Room")
    assert (_target(two_thermostats), _target(two_thermostats, "climate.bedroom")) == (23, 17)
