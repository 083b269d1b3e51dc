"""Home Assistant's Assist exposure rules, against the fake HA (in-process assistant).

What HA does (homeassistant/components/homeassistant/exposed_entities.py): an explicit
per-entity setting for the "conversation" assistant wins; only an entity without one gets the
defaults ("expose new entities" on, not hidden, no entity_category, a default domain or device
class). The fake serves `homeassistant/expose_entity/list` as HA does, admin-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.fakes import FakeHomeAssistant, FakeOllama
from tests.handle.conftest import HA_TOKEN, ha_home
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.home.home_assistant import EntityNotExposedError, HomeAssistantHome
from wyoming_rtx.settings import HandleSettings


async def _wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def _assistant(
    ha: FakeHomeAssistant, matcher: IntentMatcher, ollama: FakeOllama | None = None, **kw: Any
) -> Assistant:
    settings = HandleSettings(
        ha_url=ha.url,
        ha_token=HA_TOKEN,
        ollama_url=ollama.url if ollama else None,
        llm_timeout=2.0,
    )
    assistant = Assistant(settings, home=ha_home(ha.url, **kw), matcher=matcher)
    await assistant.start()
    assert assistant.home.available
    return assistant


@pytest.fixture
async def started() -> AsyncIterator[list[Assistant]]:
    """Assistants to stop after the test."""
    assistants: list[Assistant] = []
    yield assistants
    for assistant in assistants:
        await assistant.stop()


def _exposed(assistant: Assistant) -> set[str]:
    return set(assistant.home.snapshot.entities)


async def test_unexposed_entity_is_not_controlled_by_a_local_command(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    # populate() gives light.secret_lab an explicit "no" (the user un-exposed it).
    assert "light.secret_lab" not in _exposed(ha_assistant)
    _, answer = await ask(ha_assistant, "turn on the secret lab light")
    assert not answer.handled, answer
    assert fake_ha.calls == [] and fake_ha.state_of("light.secret_lab") == "off"
    # Nor by naming its area: the office's exposed lights only.
    _, answer = await ask(ha_assistant, "turn on the lights in the office")
    assert "light.secret_lab" not in {c.data["entity_id"] for c in fake_ha.calls}
    # And the backend refuses it even if a caller names it directly.
    with pytest.raises(EntityNotExposedError):
        await ha_assistant.home.call_service("light", "turn_on", "light.secret_lab")
    assert all(c.data["entity_id"] != "light.secret_lab" for c in fake_ha.calls)


async def test_unexposed_entity_is_not_offered_to_the_llm(
    fake_ha: FakeHomeAssistant,
    fake_ollama: FakeOllama,
    en_matcher: IntentMatcher,
    started: list[Assistant],
) -> None:
    assistant = await _assistant(fake_ha, en_matcher, fake_ollama)
    started.append(assistant)
    fake_ollama.queue_reply(tool_calls=[("turn_on", {"name": "Secret Lab Light"})])
    fake_ollama.queue_reply("I can't do that.")
    await ask(assistant, "make the lab bright, I need to work")
    first = fake_ollama.requests[0]
    prompt = first["messages"][0]["content"]
    assert "Kitchen Light" in prompt  # the prompt does list the exposed entities
    assert "Secret Lab" not in prompt and "secret_lab" not in prompt
    assert "Secret Lab" not in json.dumps(first["tools"])
    for later in fake_ollama.requests[1:]:  # the tool's answer, when the LLM path sends it
        tool_result = later["messages"][-1]
        assert tool_result["role"] == "tool" and '"success": true' not in tool_result["content"]
    assert fake_ha.calls == [] and fake_ha.state_of("light.secret_lab") == "off"


async def test_explicit_setting_wins_over_hidden_by_and_entity_category(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher, started: list[Assistant]
) -> None:
    # HA's _is_default_exposed looks at hidden_by/entity_category only when
    # async_should_expose found no explicit should_expose in the registry options.
    fake_ha.add_entity("switch.garden_pump", "Garden Pump", "off", hidden_by="user")
    fake_ha.add_entity("switch.led_mode", "Led Mode", "off", entity_category="config")
    fake_ha.add_entity(
        "light.shed_light", "Shed Light", "off", hidden_by="integration", should_expose=None
    )
    fake_ha.add_entity(
        "switch.firmware", "Firmware", "off", entity_category="diagnostic", should_expose=None
    )
    fake_ha.add_entity("light.porch_light", "Porch Light", "off", should_expose=None)
    assistant = await _assistant(fake_ha, en_matcher)
    started.append(assistant)
    exposed = _exposed(assistant)
    assert {"switch.garden_pump", "switch.led_mode", "light.porch_light"} <= exposed
    assert not {"light.shed_light", "switch.firmware"} & exposed
    _, answer = await ask(assistant, "turn on the garden pump")
    assert answer.handled and fake_ha.state_of("switch.garden_pump") == "on", answer
    _, answer = await ask(assistant, "turn on the shed light")
    assert fake_ha.state_of("light.shed_light") == "off"
    assert [c.data["entity_id"] for c in fake_ha.calls] == ["switch.garden_pump"]


async def test_defaults_apply_only_without_a_setting(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher, started: list[Assistant]
) -> None:
    def add(entity_id: str, setting: bool | None, device_class: str | None = None, **kw: Any):
        attrs = {"device_class": device_class} if device_class else {}
        fake_ha.add_entity(
            entity_id, entity_id, "off", attributes=attrs, should_expose=setting, **kw
        )

    expected = {
        # no setting: HA's defaults
        "light.d_light": True,
        "media_player.d_speaker": True,
        "lock.d_lock": False,  # not a default domain in current HA
        "script.d_script": False,
        "sensor.d_temp": True,
        "sensor.d_power": False,
        "binary_sensor.d_door": True,
        "binary_sensor.d_battery": False,
        # explicit settings, whatever the defaults say
        "light.e_light_no": False,
        "sensor.e_power_yes": True,
        "lock.e_lock_yes": True,
        # outside the entity registry: HA's store holds the setting
        "light.u_light": True,
        "light.u_light_no": False,
        # CLOUD_NEVER_EXPOSED_ENTITIES, even with an explicit "yes"
        "group.all_locks": False,
    }
    classes = {"d_temp": "temperature", "d_power": "power", "d_door": "door"}
    classes |= {"d_battery": "battery", "e_power_yes": "power"}
    for entity_id, want in expected.items():
        object_id = entity_id.split(".")[1]
        setting = None if object_id.startswith(("d_", "u_light")) else want
        if entity_id == "group.all_locks":
            setting = True
        add(
            entity_id,
            False if object_id == "u_light_no" else setting,
            classes.get(object_id),
            registered=not object_id.startswith("u_"),
        )
    assistant = await _assistant(fake_ha, en_matcher)
    started.append(assistant)
    exposed = _exposed(assistant)
    assert {e for e, want in expected.items() if want} <= exposed
    assert not {e for e, want in expected.items() if not want} & exposed

    # "Expose new entities" off: entities without a setting are not exposed; settings stay.
    fake_ha.expose_new["conversation"] = False
    home: HomeAssistantHome = assistant.home  # type: ignore[assignment]
    await fake_ha.fire_registry_updated("entity")  # any refresh re-reads it
    await _wait_for(lambda: "light.d_light" not in home.snapshot.entities)
    exposed = _exposed(assistant)
    assert not {e for e in expected if e.split(".")[1].startswith(("d_", "u_light"))} & exposed
    assert {"sensor.e_power_yes", "lock.e_lock_yes", "light.kitchen_light"} <= exposed


async def test_exposure_changes_are_picked_up(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    # The Expose toggle on a registered entity changes its registry options: HA fires
    # entity_registry_updated, and the next command already sees the change.
    await fake_ha.expose("switch.coffee_maker", False)
    await _wait_for(lambda: "switch.coffee_maker" not in _exposed(ha_assistant))
    _, answer = await ask(ha_assistant, "turn on the coffee maker")
    assert not answer.handled and fake_ha.calls == [], answer
    assert fake_ha.state_of("switch.coffee_maker") == "off"
    await fake_ha.expose("light.secret_lab", True)
    await _wait_for(lambda: "light.secret_lab" in _exposed(ha_assistant))
    _, answer = await ask(ha_assistant, "turn on the secret lab light")
    assert answer.handled and fake_ha.state_of("light.secret_lab") == "on", answer
    # Hiding an explicitly exposed entity does not un-expose it (as in HA).
    await fake_ha.update_registry_entry("light.secret_lab", hidden_by="user")
    await asyncio.sleep(0.3)
    assert "light.secret_lab" in _exposed(ha_assistant)


async def test_silent_changes_arrive_with_the_periodic_refresh_in_a_busy_home(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher, started: list[Assistant]
) -> None:
    # HA fires no event when an unregistered entity's setting or "expose new" changes; the
    # periodic refresh must come even though state_changed events never stop.
    fake_ha.add_entity("light.yaml_lamp", "Yaml Lamp", "off", registered=False)
    assistant = await _assistant(fake_ha, en_matcher, refresh_seconds=0.5)
    started.append(assistant)
    assert "light.yaml_lamp" in _exposed(assistant)
    await fake_ha.expose("light.yaml_lamp", False)  # no event: HA's store only
    for i in range(60):
        if "light.yaml_lamp" not in _exposed(assistant):
            break
        await fake_ha.set_state("switch.tv", "on" if i % 2 else "off")
        await asyncio.sleep(0.05)
    assert "light.yaml_lamp" not in _exposed(assistant)


async def test_without_admin_rights_the_fallback_is_never_more_open(
    demo_home: dict[str, Any],
    en_matcher: IntentMatcher,
    caplog: pytest.LogCaptureFixture,
    started: list[Assistant],
) -> None:
    from tests.handle.conftest import populate

    caplog.set_level(logging.INFO)
    async with FakeHomeAssistant(token=HA_TOKEN, admin=False) as ha:
        populate(ha, demo_home)
        ha.add_entity("switch.garden_pump", "Garden Pump", "off", hidden_by="user")
        ha.add_entity("light.shed_light", "Shed Light", "off", hidden_by="user", should_expose=None)
        ha.add_entity("light.porch_light", "Porch Light", "off", should_expose=None)
        ha.add_entity("light.yaml_lamp", "Yaml Lamp", "off", registered=False)
        assistant = await _assistant(ha, en_matcher)
        started.append(assistant)
        exposed = _exposed(assistant)
        # Registry options are readable by any user: explicit settings still apply exactly.
        assert "light.secret_lab" not in exposed and "switch.garden_pump" in exposed
        assert "light.kitchen_light" in exposed
        # No setting: HA's defaults, hidden_by included.
        assert "light.porch_light" in exposed and "light.shed_light" not in exposed
        # Outside the registry the setting cannot be read: not exposed.
        assert "light.yaml_lamp" not in exposed
        _, answer = await ask(assistant, "turn on the secret lab light")
        assert ha.calls == [], answer
        await ha.go_down()  # a reconnect does not repeat the warning
        await ha.come_up()
        await _wait_for(lambda: ha.auth_attempts >= 2 and assistant.home.available)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "Assist exposure settings" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert "unauthorized" in warnings[0] and "administrator" in warnings[0]
    assert any(
        "(fallback: registry settings and defaults)" in r.getMessage() for r in caplog.records
    )


async def test_fake_ha_serves_the_exposure_commands_as_ha_does(fake_ha: FakeHomeAssistant) -> None:
    fake_ha.add_entity("light.no_setting", "No Setting", "off", should_expose=None)
    fake_ha.add_entity("light.yaml_lamp", "Yaml Lamp", "off", registered=False, should_expose=False)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake_ha.url + "/api/websocket") as ws:
            assert (await ws.receive_json())["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": HA_TOKEN})
            assert (await ws.receive_json())["type"] == "auth_ok"
            await ws.send_json({"id": 1, "type": "homeassistant/expose_entity/list"})
            reply = await ws.receive_json()
            await ws.send_json(
                {
                    "id": 2,
                    "type": "homeassistant/expose_new_entities/get",
                    "assistant": "conversation",
                }
            )
            new = await ws.receive_json()
            fake_ha.admin = False
            await ws.send_json({"id": 3, "type": "homeassistant/expose_entity/list"})
            refused = await ws.receive_json()
            await ws.send_json({"id": 4, "type": "config/entity_registry/list"})
            registry = await ws.receive_json()
    assert reply["id"] == 1 and reply["type"] == "result" and reply["success"] is True
    listed = reply["result"]["exposed_entities"]
    assert listed["light.kitchen_light"] == {"conversation": True}
    assert listed["light.secret_lab"] == {"conversation": False}
    assert listed["light.no_setting"] == {}  # in the registry, no setting
    assert listed["light.yaml_lamp"] == {"conversation": False}  # HA's own store
    assert new["result"] == {"expose_new": True}
    assert refused == {
        "id": 3,
        "type": "result",
        "success": False,
        "error": {"code": "unauthorized", "message": "Unauthorized"},
    }
    assert registry["success"] is True  # the registry is not admin-only
    entry = next(e for e in registry["result"] if e["entity_id"] == "light.secret_lab")
    assert entry["options"] == {"conversation": {"should_expose": False}}
    assert entry["hidden_by"] is None and entry["entity_category"] is None
