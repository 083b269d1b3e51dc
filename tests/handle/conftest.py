"""Fixtures for the handle tests: the demo home on both backends, and the fake servers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

# tests/ is not a package on sys.path under --import-mode=importlib; the shared fakes live in
# tests/fakes, so make the repository root importable (pyproject's `pythonpath` would do this).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes import FakeHomeAssistant, FakeOllama  # noqa: E402
from wyoming_rtx.handle import Assistant, IntentMatcher  # noqa: E402
from wyoming_rtx.home.home_assistant import HomeAssistantHome  # noqa: E402
from wyoming_rtx.settings import HandleSettings  # noqa: E402

HA_TOKEN = "s3cr3t-ha-token-never-logged"


@pytest.fixture(scope="session")
def demo_home() -> dict[str, Any]:
    """The bundled demo home, as parsed YAML."""
    text = resources.files("wyoming_rtx.home").joinpath("demo_home.yaml").read_text()
    return yaml.safe_load(text)


def populate(ha: FakeHomeAssistant, home: dict[str, Any]) -> None:
    """Put the demo home into the fake HA, with devices so areas also come via devices."""
    for floor in home["floors"]:
        ha.add_floor(floor["id"], floor["name"], tuple(floor.get("aliases") or ()))
    for area in home["areas"]:
        ha.add_area(area["id"], area["name"], area.get("floor"), tuple(area.get("aliases") or ()))
    for entity in home["entities"]:
        device_id = f"dev_{entity['id'].split('.', 1)[1]}"
        ha.add_device(device_id, entity["name"], entity.get("area"))
        ha.add_entity(
            entity["id"],
            entity["name"],
            str(entity.get("state", "off")),
            device_id=device_id,
            attributes=dict(entity.get("attributes") or {}),
            aliases=tuple(entity.get("aliases") or ()),
        )
    ha.add_device("dev_kitchen_satellite", "Kitchen Satellite", "kitchen")
    ha.add_entity(
        "assist_satellite.kitchen",
        "Kitchen Satellite",
        "idle",
        device_id="dev_kitchen_satellite",
        should_expose=False,
    )
    ha.add_entity(
        "light.secret_lab", "Secret Lab Light", "off", area_id="office", should_expose=False
    )


@pytest.fixture
async def fake_ha(demo_home: dict[str, Any]) -> AsyncIterator[FakeHomeAssistant]:
    """A fake HA holding the demo home (plus an unexposed light and a satellite)."""
    async with FakeHomeAssistant(token=HA_TOKEN) as ha:
        populate(ha, demo_home)
        yield ha


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    """A fake Ollama server."""
    async with FakeOllama() as server:
        yield server


def ha_home(url: str, token: str = HA_TOKEN, **kwargs: Any) -> HomeAssistantHome:
    """An HA backend with test-speed retries."""
    kwargs.setdefault("retry_initial", 0.05)
    kwargs.setdefault("retry_max", 0.2)
    kwargs.setdefault("connect_wait", 3.0)
    return HomeAssistantHome(url, token, **kwargs)


@pytest.fixture(scope="session")
def en_matcher() -> IntentMatcher:
    """English intents, parsed once per session (0.6 s each time otherwise)."""
    matcher = IntentMatcher("en")
    asyncio.run(matcher.load())
    return matcher


@pytest.fixture
async def file_assistant(en_matcher: IntentMatcher) -> AsyncIterator[Assistant]:
    """An assistant on the bundled demo home, no LLM."""
    assistant = Assistant(HandleSettings(), matcher=en_matcher)
    await assistant.start()
    yield assistant
    await assistant.stop()


@pytest.fixture
async def ha_assistant(
    fake_ha: FakeHomeAssistant, en_matcher: IntentMatcher
) -> AsyncIterator[Assistant]:
    """An assistant on the fake HA, no LLM."""
    settings = HandleSettings(ha_url=fake_ha.url, ha_token=HA_TOKEN)
    assistant = Assistant(settings, home=ha_home(fake_ha.url), matcher=en_matcher)
    await assistant.start()
    assert assistant.home.available
    yield assistant
    await assistant.stop()
