"""The LLM's tools: each one builds an intent and runs it through the same executor.

So "could you switch the kitchen light on" understood by the LLM does exactly what the local
sentence does: same target matching, same service call, same spoken result (which the model
gets back as the tool result, with the resulting states).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from .actions import IntentExecutor
from .intents import IntentMatch

_LOGGER = logging.getLogger(__name__)


def _fn(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": []},
        },
    }


_TARGET = {
    "name": {"type": "string", "description": "Device name exactly as listed in the home"},
    "area": {"type": "string", "description": "Area (room) name, for all devices there"},
    "domain": {"type": "string", "description": "Device type, e.g. light, switch, fan, cover"},
}
_TIMER = {
    "hours": {"type": "integer"},
    "minutes": {"type": "integer"},
    "seconds": {"type": "integer"},
    "name": {"type": "string", "description": "Optional timer name, e.g. pizza"},
}

TOOLS: list[dict[str, Any]] = [
    _fn("turn_on", "Turn on a device, open a cover or lock a lock.", _TARGET),
    _fn("turn_off", "Turn off a device, close a cover or unlock a lock.", _TARGET),
    _fn(
        "set_light",
        "Set a light's brightness (0-100 percent) and/or colour.",
        {
            **_TARGET,
            "brightness": {"type": "integer", "description": "Percent, 0-100"},
            "color": {"type": "string", "description": "Colour name, e.g. red"},
        },
    ),
    _fn("get_state", "Get the current state of devices.", _TARGET),
    _fn("start_timer", "Start a countdown timer.", _TIMER),
    _fn("cancel_timer", "Cancel a timer.", {"name": _TIMER["name"]}),
    _fn("timer_status", "Tell how much time is left on timers.", {}),
]
"""JSON-schema tool definitions as Ollama's /api/chat expects them."""

_INTENTS = {
    "turn_on": "HassTurnOn",
    "turn_off": "HassTurnOff",
    "set_light": "HassLightSet",
    "get_state": "HassGetState",
    "start_timer": "HassStartTimer",
    "cancel_timer": "HassCancelTimer",
    "timer_status": "HassTimerStatus",
}


def _response_key(intent: str, slots: Mapping[str, Any], domain: str | None) -> str:
    if intent in ("HassTurnOn", "HassTurnOff"):
        if slots.get("name") and domain in ("cover", "lock"):
            return domain
        if not slots.get("name") and slots.get("domain") == "light" and slots.get("area"):
            return "lights_area"
    if intent == "HassLightSet":
        return "color" if slots.get("color") and slots.get("brightness") is None else "brightness"
    if intent == "HassGetState":
        return "one" if slots.get("name") else "which"
    return "default"


class ToolRunner:
    """Executes tool calls from the model; the result is JSON text for the `tool` message."""

    def __init__(self, executor: IntentExecutor) -> None:
        self.executor = executor

    async def run(
        self,
        name: str,
        arguments: Mapping[str, Any] | None,
        conversation_id: str | None = None,
        area: str | None = None,
    ) -> str:
        """Run one tool call; bad names or arguments become an error result for the model."""
        intent = _INTENTS.get(name)
        if intent is None:
            return json.dumps({"success": False, "error": f"unknown tool {name}"})
        slots = {k: v for k, v in dict(arguments or {}).items() if v not in (None, "")}
        slots = {k: v for k, v in slots.items() if k in {*_TARGET, *_TIMER, "brightness", "color"}}
        domain = None
        if slots.get("name"):
            named = self.executor.home.snapshot.entities_named(str(slots["name"]))
            domain = named[0].domain if named else None
        match = IntentMatch(
            intent=intent,
            slots=slots,
            speech_slots={k: str(v) for k, v in slots.items()},
            response_key=_response_key(intent, slots, domain),
            text=f"tool {name}",
        )
        outcome = await self.executor.execute(match, conversation_id, area)
        snapshot = self.executor.home.snapshot
        states = {
            snapshot.entities[e].name: snapshot.entities[e].state_with_unit
            for e in outcome.entity_ids
            if e in snapshot.entities
        }
        _LOGGER.info("LLM tool %s(%s) -> %s", name, slots, outcome.speech)
        return json.dumps({"success": outcome.success, "result": outcome.speech, "states": states})
