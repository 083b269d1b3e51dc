"""The HA backend against the fake HA: exposure, events, outages, token hygiene."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from tests.fakes import FakeHomeAssistant
from tests.handle.conftest import HA_TOKEN, ha_home, populate
from tests.handle.helpers import ask
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.settings import HandleSettings


async def _wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_registries_exposure_and_aliases(ha_assistant: Assistant) -> None:
    snap = ha_assistant.home.snapshot
    assert "light.secret_lab" not in snap.entities
    assert "assist_satellite.kitchen" not in snap.entities
    kitchen = snap.entities["light.kitchen_light"]
    assert kitchen.aliases == ("kitchen lamp",)
    assert snap.areas[kitchen.area_id].name == "Kitchen"  # area via the device registry
    assert snap.floor_named("upstairs") is not None
    assert ha_assistant.area_for("assist_satellite.kitchen") == "Kitchen"


async def test_state_changes_pushed_by_ha_are_seen(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    await fake_ha.set_state("switch.tv", "on")
    await _wait_for(lambda: ha_assistant.home.snapshot.entities["switch.tv"].state == "on")
    _, answer = await ask(ha_assistant, "is the tv on")
    assert answer.text == "Yes"


async def test_registry_update_refreshes_names(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    fake_ha.add_entity("light.pantry", "Pantry Light", "off", area_id="kitchen")
    await fake_ha.fire_registry_updated("entity")
    await _wait_for(lambda: "light.pantry" in ha_assistant.home.snapshot.entities)
    _, answer = await ask(ha_assistant, "turn on the pantry light")
    assert answer.handled and fake_ha.state_of("light.pantry") == "on"


async def test_ha_down_at_start_then_recovers(
    demo_home: dict, en_matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ha = FakeHomeAssistant(token=HA_TOKEN)
    populate(ha, demo_home)
    await ha.start()
    await ha.go_down()
    assistant = Assistant(
        HandleSettings(ha_url=ha.url, ha_token=HA_TOKEN),
        home=ha_home(ha.url, connect_wait=0.2),
        matcher=en_matcher,
    )
    try:
        await assistant.start()  # must not raise
        assert not assistant.home.available
        _, answer = await ask(assistant, "turn on the kitchen light")
        assert not answer.handled
        assert answer.text == (
            "Sorry, I can't reach Home Assistant right now. Please try again in a moment."
        )
        _, answer = await ask(assistant, "what time is it")
        assert answer.handled  # no home needed
        await ha.come_up()
        await _wait_for(lambda: assistant.home.available)
        _, answer = await ask(assistant, "turn on the kitchen light")
        assert answer.handled and ha.state_of("light.kitchen_light") == "on"
        await ha.go_down()  # HA restarts mid-session
        await _wait_for(lambda: not assistant.home.available)
        await ha.come_up()
        await _wait_for(lambda: assistant.home.available)
        _, answer = await ask(assistant, "turn off the kitchen light")
        assert answer.handled and ha.state_of("light.kitchen_light") == "off"
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.endswith("home_assistant")
        ]
        assert sum("unreachable" in w for w in warnings) == 1, warnings  # retries at DEBUG
        assert sum("Lost the connection" in w for w in warnings) == 1, warnings
    finally:
        await assistant.stop()
        await ha.stop()
    assert all(HA_TOKEN not in r.getMessage() for r in caplog.records)
    assert HA_TOKEN not in caplog.text


async def test_slow_home_assistant_gets_a_bounded_spoken_answer(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher
) -> None:
    home = ha_home(fake_ha.url, request_timeout=1.0)
    assistant = Assistant(
        HandleSettings(ha_url=fake_ha.url, ha_token=HA_TOKEN), home=home, matcher=en_matcher
    )
    await assistant.start()
    try:
        fake_ha.service_delay = 30.0  # far past the request timeout
        started = asyncio.get_running_loop().time()
        _, answer = await ask(assistant, "turn on the kitchen light")
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed < 3.0, elapsed
        assert not answer.handled and answer.text.startswith("Sorry"), answer
        fake_ha.service_delay = 0.0  # HA catches up: the next command works
        await _wait_for(lambda: home.available)
        _, answer = await ask(assistant, "turn off the kitchen light")
        assert answer.handled and fake_ha.state_of("light.kitchen_light") == "off"
    finally:
        await assistant.stop()


async def test_invalid_token_is_reported_without_the_token(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-value-123"
    home = ha_home(fake_ha.url, token=wrong, connect_wait=0.3)
    assistant = Assistant(
        HandleSettings(ha_url=fake_ha.url, ha_token=wrong), home=home, matcher=en_matcher
    )
    await assistant.start()
    try:
        await _wait_for(lambda: fake_ha.auth_attempts >= 1)
        assert not home.available
        assert any("token rejected" in r.getMessage() for r in caplog.records)
        assert wrong not in caplog.text and wrong not in repr(home)
        assert wrong not in repr(HandleSettings(ha_token=wrong))
    finally:
        await assistant.stop()


async def test_fake_ha_rest_needs_the_token(fake_ha: FakeHomeAssistant) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(fake_ha.url + "/api/") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bearer {HA_TOKEN}"}
        async with session.get(fake_ha.url + "/api/", headers=headers) as response:
            assert (await response.json()) == {"message": "API running."}
        async with session.post(
            fake_ha.url + "/api/services/light/turn_on",
            headers=headers,
            json={"entity_id": "light.desk_lamp"},
        ) as response:
            changed = await response.json()
    assert changed[0]["entity_id"] == "light.desk_lamp" and changed[0]["state"] == "on"
    assert fake_ha.calls[-1].data == {"entity_id": "light.desk_lamp"}


async def test_registry_change_during_a_refresh_is_not_lost(
    ha_assistant: Assistant, fake_ha: FakeHomeAssistant
) -> None:
    # The refresh has read the exposure list when the user un-exposes an entity; the event
    # arrives while the refresh is still loading states. It must trigger another refresh,
    # not wait for the periodic one (5 minutes).
    fake_ha.states_delay = 0.5
    reads = sum(c.get("type") == "homeassistant/expose_entity/list" for c in fake_ha.ws_commands)
    await fake_ha.fire_registry_updated("area")  # starts a refresh
    await _wait_for(
        lambda: (
            sum(c.get("type") == "homeassistant/expose_entity/list" for c in fake_ha.ws_commands)
            > reads
        )
    )
    await fake_ha.expose("switch.coffee_maker", False)  # mid-refresh
    fake_ha.states_delay = 0.0
    await _wait_for(lambda: "switch.coffee_maker" not in ha_assistant.home.snapshot.entities)
    _, answer = await ask(ha_assistant, "turn on the coffee maker")
    assert not answer.handled and fake_ha.calls == [], answer
