"""The LLM's tools: each one builds an intent and runs it through the same executor.

So "could you switch the kitchen light on" understood by the LLM does exactly what the local
sentence does: same target matching, same service call, same spoken result (which the model
gets back as the tool result, with the resulting states).

A malformed call (unknown tool, arguments that are not an object, a missing or wrongly typed
argument) and a tool that fails unexpectedly both come back to the model as a tool error it can
read and correct, never as an exception that ends the answer. A call that would unlock a lock,
open a garage door, gate or door, or disarm an alarm is not executed: it becomes a
`PendingAction` that runs only after the user says yes (see `Assistant`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .actions import IntentExecutor
from .conversations import PendingAction
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
    _fn(
        "turn_on",
        "Turn on a device, open a cover or lock a lock. Opening a garage door, gate or door "
        "asks the user to confirm first.",
        _TARGET,
    ),
    _fn(
        "turn_off",
        "Turn off a device, close a cover or unlock a lock. Unlocking asks the user to "
        "confirm first.",
        _TARGET,
    ),
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
"""JSON-schema tool definitions in the OpenAI function format, which Ollama's /api/chat and
OpenAI-compatible servers both take."""

_INTENTS = {
    "turn_on": "HassTurnOn",
    "turn_off": "HassTurnOff",
    "set_light": "HassLightSet",
    "get_state": "HassGetState",
    "start_timer": "HassStartTimer",
    "cancel_timer": "HassCancelTimer",
    "timer_status": "HassTimerStatus",
}

_TARGET_KEYS = ("name", "area", "domain")
_REQUIRED_ANY: dict[str, tuple[tuple[str, ...], ...]] = {
    "turn_on": (_TARGET_KEYS,),
    "turn_off": (_TARGET_KEYS,),
    "get_state": (_TARGET_KEYS,),
    "set_light": (_TARGET_KEYS, ("brightness", "color")),
    "start_timer": (("hours", "minutes", "seconds"),),
}
"""Per tool, groups of which at least one argument must be given (a target, a duration)."""
_RANGES = {"brightness": (0, 100), "hours": (0, None), "minutes": (0, None), "seconds": (0, None)}
_INTEGER_TEXT = re.compile(r"\s*-?\d+\s*")


@dataclass(frozen=True)
class InvalidJson:
    """Arguments streamed as a JSON string (OpenAI-compatible servers) that do not parse:
    the model made a mistake it can correct, so it is a tool error, not a broken stream."""

    text: str
    error: str


class ToolCallError(ValueError):
    """A malformed tool call; its message is written for the model, so it can correct it."""


@dataclass(frozen=True)
class ToolResult:
    """The `tool` message content, and the action held for confirmation, if any."""

    content: str
    pending: PendingAction | None = None


def _properties(name: str) -> dict[str, Any]:
    tool = next(t for t in TOOLS if t["function"]["name"] == name)
    return tool["function"]["parameters"]["properties"]


def _integer(key: str, value: Any) -> int:
    """An integer argument: ints, integral floats and digit strings (as HA's `vol.Coerce(int)`
    accepts), within the argument's range."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        number = int(value)
    else:
        number = None
    if number is None:
        raise ToolCallError(f"argument {key!r} must be an integer, not {value!r}")
    low, high = _RANGES.get(key, (None, None))
    if (low is not None and number < low) or (high is not None and number > high):
        raise ToolCallError(f"argument {key!r} must be between {low} and {high}, not {number}")
    return number


def validate_arguments(name: str, arguments: Any) -> dict[str, Any]:
    """The call's arguments checked against the tool's schema; raises `ToolCallError`.

    Empty values (null, "") count as absent: small models fill every optional field."""
    if name not in _INTENTS:
        raise ToolCallError(f"unknown tool {name!r}; the tools are {', '.join(_INTENTS)}")
    if arguments is None:
        arguments = {}
    if isinstance(arguments, InvalidJson):
        raise ToolCallError(f"arguments are not valid JSON ({arguments.error}): {arguments.text!r}")
    if not isinstance(arguments, Mapping):
        raise ToolCallError(f"arguments must be a JSON object, not {arguments!r}")
    properties = _properties(name)
    slots: dict[str, Any] = {}
    for key, value in arguments.items():
        if key not in properties:
            allowed = ", ".join(properties) or "none"
            raise ToolCallError(f"unknown argument {key!r} for {name}; allowed: {allowed}")
        if value is None or value == "":
            continue
        if properties[key]["type"] == "integer":
            slots[key] = _integer(key, value)
        elif isinstance(value, str):
            slots[key] = value.strip()
        else:
            raise ToolCallError(f"argument {key!r} must be a string, not {value!r}")
    for group in _REQUIRED_ANY.get(name, ()):
        if not any(key in slots for key in group):
            raise ToolCallError(f"{name} needs at least one of: {', '.join(group)}")
    return slots


def _summary(sensitive: list[tuple[str, Any]]) -> str:
    """What the held call would do: "unlock the Front Door and open the Garage Door"."""
    return " and ".join(f"{verb} the {entity.name}" for verb, entity in sensitive)


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
        arguments: Any,
        conversation_id: str | None = None,
        area: str | None = None,
    ) -> ToolResult:
        """Run one tool call; never raises for anything the call or the tool does wrong.

        A malformed call is logged as a warning (the model's mistake, no traceback needed); a
        tool that raises is logged with its traceback (our bug). Both go back to the model."""
        try:
            slots = validate_arguments(name, arguments)
        except ToolCallError as err:
            _LOGGER.warning("LLM tool call %s(%r) rejected: %s", name, arguments, err)
            return _error(str(err))
        try:
            return await self._run(name, slots, conversation_id, area)
        except Exception as err:  # any failure: the model must hear of it, we log our bug
            _LOGGER.exception("LLM tool %s(%s) failed", name, slots)
            return _error(f"the tool failed ({type(err).__name__}); it did not do anything")

    async def _run(
        self, name: str, slots: dict[str, Any], conversation_id: str | None, area: str | None
    ) -> ToolResult:
        match = self._match(name, slots)
        sensitive = self.executor.sensitive_targets(match)
        if sensitive:
            pending = PendingAction(match, _summary(sensitive), area)
            _LOGGER.info("LLM tool %s(%s) held for confirmation: %s", name, slots, pending.summary)
            content = {"success": False, "needs_confirmation": True, "question": pending.question}
            return ToolResult(json.dumps(content), pending)
        return ToolResult(await self.execute(name, match, conversation_id, area))

    async def execute(
        self, name: str, match: IntentMatch, conversation_id: str | None, area: str | None
    ) -> str:
        """Execute a validated (and, if sensitive, confirmed) call; the tool message JSON."""
        outcome = await self.executor.execute(match, conversation_id, area)
        snapshot = self.executor.home.snapshot
        states = {
            snapshot.entities[e].name: snapshot.entities[e].state_with_unit
            for e in outcome.entity_ids
            if e in snapshot.entities
        }
        _LOGGER.info("LLM tool %s(%s) -> %s", name, match.slots, outcome.speech)
        return json.dumps({"success": outcome.success, "result": outcome.speech, "states": states})

    def _match(self, name: str, slots: dict[str, Any]) -> IntentMatch:
        intent = _INTENTS[name]
        domain = None
        if slots.get("name"):
            named = self.executor.home.snapshot.entities_named(str(slots["name"]))
            domain = named[0].domain if named else None
        return IntentMatch(
            intent=intent,
            slots=slots,
            speech_slots={k: str(v) for k, v in slots.items()},
            response_key=_response_key(intent, slots, domain),
            text=f"tool {name}",
        )


def _error(message: str) -> ToolResult:
    return ToolResult(json.dumps({"success": False, "error": message}))
