"""Executes recognized intents against the home and timers, and renders the spoken answer.

The same code runs a locally matched sentence and an LLM tool call (the tools build an
`IntentMatch`), so both paths target entities, change state and word answers identically.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import RtxError
from ..home.model import ON_OFF_DOMAINS, Entity, Home, HomeSnapshot, HomeUnavailableError
from .intents import IntentMatch, IntentMatcher
from .timer_actions import TIMER_INTENTS, run_timer_intent  # service.py imports TIMER_INTENTS here
from .timers import TimerManager

_LOGGER = logging.getLogger(__name__)

SUPPORTED_INTENTS = TIMER_INTENTS | frozenset(
    {
        "HassTurnOn",
        "HassTurnOff",
        "HassLightSet",
        "HassGetState",
        "HassClimateGetTemperature",
        "HassClimateSetTemperature",
        "HassGetCurrentTime",
        "HassGetCurrentDate",
        "HassNevermind",
    }
)
"""Intents this server executes itself (in handled mode); others go to the LLM."""

_CONTROLLABLE = ON_OFF_DOMAINS | {"cover", "lock", "scene", "script"}
_DOOR_COVER_CLASSES = frozenset({"garage", "gate", "door"})
_SERVICES = {
    ("cover", True): "open_cover",
    ("cover", False): "close_cover",
    ("lock", True): "lock",
    ("lock", False): "unlock",
}


@dataclass(frozen=True)
class Outcome:
    """What executing an intent did and what to say about it."""

    speech: str
    success: bool
    intent: str
    entity_ids: tuple[str, ...] = ()
    changed: dict[str, str] = field(default_factory=dict)
    """entity_id -> new state, for logs, the LLM tool result and tests."""


def sensitive_verb(entity: Entity, turn_on: bool) -> str | None:
    """The verb ("unlock", "open", "disarm") when turning `entity` on/off opens the home to
    someone; None for everything else.

    Locking, closing and arming are never sensitive: a mistaken "lock" is an inconvenience, a
    mistaken "unlock" lets someone in."""
    if entity.domain == "lock" and not turn_on:
        return "unlock"
    if entity.domain == "cover" and turn_on and entity.device_class in _DOOR_COVER_CLASSES:
        return "open"
    if entity.domain == "alarm_control_panel" and not turn_on:
        return "disarm"
    return None


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


class IntentExecutor:
    """Runs an `IntentMatch` against a `Home` and a `TimerManager`."""

    def __init__(
        self,
        home: Home,
        timers: TimerManager,
        matcher: IntentMatcher,
        now: Callable[[], datetime.datetime] = datetime.datetime.now,
    ) -> None:
        self.home = home
        self.timers = timers
        self.matcher = matcher
        self._now = now

    def supports(self, intent: str) -> bool:
        """True when this server can execute the intent itself."""
        return intent in SUPPORTED_INTENTS

    def sensitive_targets(self, match: IntentMatch) -> list[tuple[str, Entity]]:
        """(verb, entity) for each target of a turn on/off that would unlock a lock, open a
        door-like cover or disarm an alarm; empty when none would (or targets do not resolve:
        `execute` then answers the error)."""
        if match.intent not in ("HassTurnOn", "HassTurnOff") or not self.home.available:
            return []
        targets = self._targets(match)
        if isinstance(targets, Outcome):
            return []
        turn_on = match.intent == "HassTurnOn"
        found = [(sensitive_verb(e, turn_on), e) for e in targets]
        return [(verb, e) for verb, e in found if verb is not None]

    def target_areas(self, match: IntentMatch) -> set[str | None]:
        """The area ids of what `match` would act on as it stands (None for entities in no
        area); empty when nothing matches.

        A command without an area whose targets lie in more than one area is ambiguous: that
        is when the speaker is asked "Which room?"."""
        for probe in _kind_probes(match):
            targets = self._targets(probe)
            if isinstance(targets, list):
                return {e.area_id for e in targets}
        return set()

    async def execute(
        self,
        match: IntentMatch,
        conversation_id: str | None = None,
        area: str | None = None,
        satellite_id: str | None = None,
    ) -> Outcome:
        """Execute and answer; expected failures become a spoken error, never an exception.

        satellite_id: the direct satellite that spoke, so a timer it sets rings there."""
        try:
            return await self._execute(match, conversation_id, area, satellite_id)
        except HomeUnavailableError:
            return Outcome(self.home.unavailable_message, False, match.intent)
        except RtxError as err:
            _LOGGER.warning("Intent %s failed: %s", match.intent, err)
            text = self.matcher.render_error("handle_error", {}) or "An unexpected error occurred"
            return Outcome(text, False, match.intent)

    async def _execute(
        self,
        match: IntentMatch,
        conversation_id: str | None,
        area: str | None,
        satellite_id: str | None = None,
    ) -> Outcome:
        name = match.intent
        if name in (
            "HassTurnOn",
            "HassTurnOff",
            "HassLightSet",
            "HassGetState",
            "HassClimateGetTemperature",
            "HassClimateSetTemperature",
        ):
            if not self.home.available:
                raise HomeUnavailableError("home unavailable")
            return await self._entity_intent(match)
        if name == "HassGetCurrentTime":
            return self._say(match, {"time": self._now().time()}, success=True)
        if name == "HassGetCurrentDate":
            return self._say(match, {"date": self._now().date()}, success=True)
        if name == "HassNevermind":
            return Outcome(self._render(match, {}) or "", True, name)
        return run_timer_intent(
            self.timers, match, self._say, self._error, conversation_id, area, satellite_id
        )

    def _render(
        self,
        match: IntentMatch,
        extra_slots: dict[str, Any],
        targets: Iterable[Entity] = (),
        matched: list[Entity] | None = None,
        unmatched: list[Entity] | None = None,
    ) -> str | None:
        snapshot = self.home.snapshot
        targets = list(targets)
        candidates = matched or unmatched or targets
        first = candidates[0] if candidates else None
        variables = {
            "slots": {**match.speech_slots, **extra_slots},
            "state": first,
            "query": {"matched": matched or [], "unmatched": unmatched or []},
            "state_attr": lambda entity_id, attr: _state_attr(snapshot, entity_id, attr),
        }
        return self.matcher.render(match.intent, match.response_key, variables)

    def _say(self, match: IntentMatch, extra: dict[str, Any], success: bool) -> Outcome:
        return Outcome(self._render(match, extra) or "Done", success, match.intent)

    def _error(self, key: str, match: IntentMatch, **variables: Any) -> Outcome:
        text = self.matcher.render_error(key, variables) or "Sorry, I couldn't do that"
        return Outcome(text, False, match.intent)

    def _targets(self, match: IntentMatch) -> list[Entity] | Outcome:
        """HA-style target matching with the same error responses HA speaks."""
        snap = self.home.snapshot
        slots = match.slots
        area = floor = None
        if slots.get("area"):
            area = snap.area_named(str(slots["area"]))
            if area is None:
                return self._error("no_area", match, area=slots["area"])
        if slots.get("floor"):
            floor = snap.floor_named(str(slots["floor"]))
            if floor is None:
                return self._error("no_floor", match, floor=slots["floor"])
        domains = _as_list(slots.get("domain"))
        classes = _as_list(slots.get("device_class"))
        name = slots.get("name")
        found = snap.find(
            name=str(name) if name else None,
            area=area,
            floor=floor,
            domains=domains,
            device_classes=classes,
        )
        if found:
            return found
        if name:
            if area is not None:
                return self._error("no_entity_in_area", match, entity=name, area=area.name)
            return self._error("no_entity", match, entity=name)
        domain = (domains or ["device"])[0]
        if area is not None:
            return self._error("no_domain_in_area", match, domain=domain, area=area.name)
        if floor is not None:
            return self._error("no_domain_in_floor", match, domain=domain, floor=floor.name)
        return self._error("no_domain", match, domain=domain)

    async def _entity_intent(self, match: IntentMatch) -> Outcome:
        if match.intent == "HassClimateGetTemperature":
            return self._temperature(match)
        if match.intent == "HassClimateSetTemperature":
            return await self._set_temperature(match)
        targets = self._targets(match)
        if isinstance(targets, Outcome):
            return targets
        if match.intent == "HassGetState":
            return self._get_state(match, targets)
        if match.intent == "HassLightSet":
            return await self._light_set(match, targets)
        turn_on = match.intent == "HassTurnOn"
        controllable = [e for e in targets if e.domain in _CONTROLLABLE]
        if not controllable:
            return self._error("feature_not_supported", match)
        changed: dict[str, str] = {}
        for entity in controllable:
            service = _SERVICES.get((entity.domain, turn_on), "turn_on" if turn_on else "turn_off")
            if entity.domain in ("scene", "script"):
                service = "turn_on"
            await self.home.call_service(entity.domain, service, entity.entity_id)
            changed[entity.entity_id] = service
        updated = [self.home.snapshot.entities.get(e.entity_id, e) for e in controllable]
        text = self._render(match, {}, targets=updated) or "Done"
        return Outcome(text, True, match.intent, tuple(changed), changed)

    async def _light_set(self, match: IntentMatch, targets: list[Entity]) -> Outcome:
        lights = [e for e in targets if e.domain == "light"]
        if not lights:
            return self._error("feature_not_supported", match)
        data: dict[str, Any] = {}
        if match.slots.get("brightness") is not None:
            data["brightness_pct"] = int(float(match.slots["brightness"]))
        if match.slots.get("color"):
            data["color_name"] = str(match.slots["color"])
        if match.slots.get("temperature") is not None:
            data["color_temp_kelvin"] = int(float(match.slots["temperature"]))
        if not data:
            return self._error("feature_not_supported", match)
        changed = {}
        for entity in lights:
            await self.home.call_service("light", "turn_on", entity.entity_id, data)
            changed[entity.entity_id] = "turn_on"
        text = self._render(match, {}, targets=lights) or "Done"
        return Outcome(text, True, match.intent, tuple(changed), changed)

    def _get_state(self, match: IntentMatch, targets: list[Entity]) -> Outcome:
        wanted = _as_list(match.slots.get("state"))
        if wanted:
            lowered = {w.lower() for w in wanted}
            matched = [e for e in targets if e.state.lower() in lowered]
            unmatched = [e for e in targets if e.state.lower() not in lowered]
        else:
            matched, unmatched = list(targets), []
        text = self._render(match, {}, targets, matched, unmatched) or targets[0].state_with_unit
        return Outcome(text, True, match.intent, tuple(e.entity_id for e in targets))

    def _temperature(self, match: IntentMatch) -> Outcome:
        for probe in _kind_probes(match):
            targets = self._targets(probe)
            if isinstance(targets, list):
                text = self._render(match, {}, targets=targets)
                return Outcome(
                    text or targets[0].state_with_unit, True, match.intent, (targets[0].entity_id,)
                )
        return self._error("no_domain", match, domain="thermostat")

    async def _set_temperature(self, match: IntentMatch) -> Outcome:
        """HA's SetTemperatureIntent: `climate.set_temperature` with `temperature` on exactly
        one thermostat: the named one, the area's, or the home's only one."""
        try:
            temperature = float(match.slots["temperature"])
        except (KeyError, TypeError, ValueError):
            return self._error("handle_error", match)
        if not math.isfinite(temperature):
            return self._error("handle_error", match)
        targets = self._targets(_with_slots(match, domain=["climate"], device_class=None))
        if isinstance(targets, Outcome):
            return targets
        if len(targets) > 1:  # HA's single_target: never set several thermostats at once
            return self._error("duplicate_targets", match)
        thermostat = targets[0]
        data = {"temperature": int(temperature) if temperature.is_integer() else temperature}
        await self.home.call_service("climate", "set_temperature", thermostat.entity_id, data)
        updated = self.home.snapshot.entities.get(thermostat.entity_id, thermostat)
        text = self._render(match, {}, targets=[updated])
        return Outcome(
            text or f"Temperature set to {data['temperature']} degrees",
            True,
            match.intent,
            (thermostat.entity_id,),
            {thermostat.entity_id: "set_temperature"},
        )


def _with_slots(match: IntentMatch, **slots: Any) -> IntentMatch:
    """`match` with some slot values replaced (None removes the slot's constraint)."""
    return replace(match, slots={**match.slots, **slots})


def _kind_probes(match: IntentMatch) -> list[IntentMatch]:
    """`match` constrained to the kinds of entity its intent acts on, likeliest first.

    The temperature intents name no domain: "the temperature" is a thermostat's, else a
    temperature sensor's. Other intents carry their own domain (or a name) already."""
    if match.intent == "HassClimateGetTemperature":
        return [
            _with_slots(match, domain=["climate"], device_class=None),
            _with_slots(match, domain=["sensor"], device_class=["temperature"]),
        ]
    if match.intent == "HassClimateSetTemperature":
        return [_with_slots(match, domain=["climate"], device_class=None)]
    return [match]


def _state_attr(snapshot: HomeSnapshot, entity_id: str, attr: str) -> Any:
    entity = snapshot.entities.get(entity_id)
    if entity is None:
        return None
    return entity.attributes.get(attr)
