"""Assist exposure end to end: the real `python -m wyoming_rtx` over Wyoming TCP, fake HA.

The server process connects to the fake Home Assistant (which serves
`homeassistant/expose_entity/list` as HA does) and to the fake Ollama; the test sends
`transcript` events as Home Assistant's conversation client does and checks what reached HA's
service API and what the LLM was shown.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from server_proc import RunningServer, launch, stop
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from tests.fakes import FakeHomeAssistant, FakeOllama
from tests.handle.conftest import HA_TOKEN, populate

_TERMINAL = {"handled-stop", "not-handled", "error", "not-recognized", "intent"}


async def _say(server: RunningServer, text: str) -> list[Event]:
    """One conversation request, read to its terminal event."""
    events: list[Event] = []
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(
            Transcript(text, context={"conversation_id": text}, language="en").event()
        )
        while True:
            event = await asyncio.wait_for(client.read_event(), 15)
            assert event is not None, "connection closed before a terminal event"
            events.append(event)
            streamed = any(e.type == "handled-start" for e in events)
            if event.type in _TERMINAL or (event.type == "handled" and not streamed):
                return events


def _called(ha: FakeHomeAssistant) -> list[str]:
    return [f"{c.domain}.{c.service} {c.data.get('entity_id')}" for c in ha.calls]


async def _refreshed(ha: FakeHomeAssistant, before: int) -> None:
    """Wait until the server has re-read exposure and finished that refresh."""
    for _ in range(250):
        kinds = [c.get("type") for c in ha.ws_commands]
        if kinds.count("config/entity_registry/get_entries") > before:
            await asyncio.sleep(0.3)  # the snapshot is swapped right after that answer
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the server did not refresh")


async def test_exposure_rules_hold_end_to_end(tmp_path: Path, demo_home: dict[str, Any]) -> None:
    async with FakeHomeAssistant(token=HA_TOKEN) as ha, FakeOllama() as ollama:
        populate(ha, demo_home)  # light.secret_lab: the user un-exposed it
        ha.add_entity("switch.garden_pump", "Garden Pump", "off", hidden_by="user")
        ha.add_entity(
            "switch.firmware_update",
            "Firmware Update",
            "off",
            entity_category="config",
            should_expose=None,
        )
        server = await asyncio.to_thread(
            launch,
            tmp_path,
            "--ha-url",
            ha.url,
            "--ha-token",
            HA_TOKEN,
            "--ollama-url",
            ollama.url,
            "--llm-timeout",
            "10",
        )
        try:
            # Un-exposed: no local match, and the LLM is neither shown it nor able to use it.
            ollama.queue_reply(tool_calls=[("turn_on", {"name": "Secret Lab Light"})])
            ollama.queue_reply("I can't find that light.")
            await _say(server, "turn on the secret lab light")
            assert ha.calls == [] and ha.state_of("light.secret_lab") == "off"
            prompt = ollama.requests[0]["messages"][0]["content"]
            assert "Kitchen Light" in prompt and "Secret Lab" not in prompt

            # Hidden but explicitly exposed: usable. Entity category and no setting: not.
            events = await _say(server, "turn on the garden pump")
            assert events[-1].type == "handled", events
            assert _called(ha) == ["switch.turn_on switch.garden_pump"]
            await _say(server, "turn on the firmware update")
            assert ha.state_of("switch.firmware_update") == "off"
            assert _called(ha) == ["switch.turn_on switch.garden_pump"]

            # The user flips exposure in HA: the running server follows.
            before = [c.get("type") for c in ha.ws_commands].count(
                "config/entity_registry/get_entries"
            )
            await ha.expose("switch.coffee_maker", False)
            await ha.expose("light.secret_lab", True)
            await _refreshed(ha, before)
            await _say(server, "turn on the coffee maker")
            assert ha.state_of("switch.coffee_maker") == "off"
            events = await _say(server, "turn on the secret lab light")
            assert events[-1].type == "handled", events
            assert ha.state_of("light.secret_lab") == "on"
            assert _called(ha) == [
                "switch.turn_on switch.garden_pump",
                "light.turn_on light.secret_lab",
            ]
        finally:
            code = await asyncio.to_thread(stop, server)
        log = server.log()
        assert code == 0, log
        assert "entities exposed to Assist (HA's exposure settings)" in log
        assert "did not give its Assist exposure settings" not in log  # admin: no fallback
        assert HA_TOKEN not in log
