"""The home: entities, areas and floors, and the one interface both backends implement.

Intents, the LLM tools and the system prompt all read the same `HomeSnapshot` and act through
`Home.call_service`, so a command does the same thing whichever way it was understood and
whichever backend (home file or Home Assistant) holds the state.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import RtxError

_LOGGER = logging.getLogger(__name__)

ON_OFF_DOMAINS = frozenset({"light", "switch", "fan", "input_boolean", "media_player", "climate"})
"""Domains whose HassTurnOn/Off map to `turn_on`/`turn_off`."""


class HomeUnavailableError(RtxError):
    """The home backend cannot be reached (HA down or still connecting)."""

    code = "home-unavailable"


@dataclass(frozen=True)
class Floor:
    """A floor: groups areas ("turn on the lights upstairs")."""

    floor_id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Area:
    """An area (room): scopes commands and gives a satellite its context."""

    area_id: str
    name: str
    floor_id: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    """One controllable or readable thing, with its current state."""

    entity_id: str
    name: str
    state: str = "unknown"
    area_id: str | None = None
    aliases: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The entity's domain (`light` for `light.kitchen`)."""
        return self.entity_id.split(".", 1)[0]

    @property
    def device_class(self) -> str | None:
        """HA device class (e.g. `temperature`, `garage`), used by some sentences."""
        value = self.attributes.get("device_class")
        return str(value) if value else None

    @property
    def state_with_unit(self) -> str:
        """The state as spoken: with its unit of measurement when it has one."""
        unit = self.attributes.get("unit_of_measurement")
        return f"{self.state} {unit}" if unit else self.state


@dataclass(frozen=True)
class HomeSnapshot:
    """An immutable view of the home; a new one replaces the old on every change."""

    entities: Mapping[str, Entity] = field(default_factory=dict)
    areas: Mapping[str, Area] = field(default_factory=dict)
    floors: Mapping[str, Floor] = field(default_factory=dict)
    satellite_areas: Mapping[str, str] = field(default_factory=dict)
    """satellite_id or device_id -> area_id (from the registries, or the home file)."""
    names_token: object = field(default_factory=object)
    """New whenever names/areas/floors change (kept by `with_entity`), so matchers rebuild
    their slot lists only then."""

    def area_named(self, name: str | None) -> Area | None:
        """The area whose name or alias is `name` (case-insensitive)."""
        return _by_name(self.areas.values(), name)

    def floor_named(self, name: str | None) -> Floor | None:
        """The floor whose name or alias is `name` (case-insensitive)."""
        return _by_name(self.floors.values(), name)

    def entity_area(self, entity: Entity) -> Area | None:
        """The entity's area object, if it has one."""
        return self.areas.get(entity.area_id) if entity.area_id else None

    def entities_named(self, name: str) -> list[Entity]:
        """Entities whose name or alias is `name` (case-insensitive)."""
        wanted = _norm(name)
        return [
            e
            for e in self.entities.values()
            if _norm(e.name) == wanted or any(_norm(a) == wanted for a in e.aliases)
        ]

    def find(
        self,
        *,
        name: str | None = None,
        area: Area | None = None,
        floor: Floor | None = None,
        domains: Iterable[str] | None = None,
        device_classes: Iterable[str] | None = None,
    ) -> list[Entity]:
        """Entities matching every given constraint (HA's target matching, simplified)."""
        found = self.entities_named(name) if name else list(self.entities.values())
        domain_set = set(domains) if domains else None
        class_set = set(device_classes) if device_classes else None
        result = []
        for entity in found:
            if domain_set is not None and entity.domain not in domain_set:
                continue
            if class_set is not None and entity.device_class not in class_set:
                continue
            entity_area = self.entity_area(entity)
            if area is not None and (entity_area is None or entity_area.area_id != area.area_id):
                continue
            if floor is not None and (
                entity_area is None or entity_area.floor_id != floor.floor_id
            ):
                continue
            result.append(entity)
        return sorted(result, key=lambda e: e.name.lower())

    def with_entity(self, entity: Entity) -> HomeSnapshot:
        """A copy with one entity's state replaced (names unchanged)."""
        entities = dict(self.entities)
        entities[entity.entity_id] = entity
        return replace(self, entities=entities)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def _by_name(items: Iterable[Area | Floor], name: str | None) -> Any:
    if not name:
        return None
    wanted = _norm(name)
    for item in items:
        if _norm(item.name) == wanted or any(_norm(a) == wanted for a in item.aliases):
            return item
    return None


class Home(abc.ABC):
    """A home backend: keeps a fresh `snapshot` and executes services."""

    def __init__(self) -> None:
        self._snapshot = HomeSnapshot()

    @property
    def snapshot(self) -> HomeSnapshot:
        """The latest view of the home (cheap: no I/O)."""
        return self._snapshot

    @property
    @abc.abstractmethod
    def available(self) -> bool:
        """True when commands can be executed right now."""

    @property
    def unavailable_message(self) -> str:
        """What to say when a command cannot be executed because the home is unreachable."""
        return "Sorry, I can't reach your home right now. Please try again in a moment."

    @abc.abstractmethod
    async def start(self) -> None:
        """Load or connect; never raises for an unreachable backend (retries in background)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Release connections and background tasks."""

    @abc.abstractmethod
    async def call_service(
        self, domain: str, service: str, entity_id: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Run a service on one entity; raises HomeUnavailableError when unreachable."""

    def area_for(self, satellite_id: str | None = None, device_id: str | None = None) -> str | None:
        """The area name of a satellite/device, from the registries or the home file."""
        snap = self._snapshot
        for key in (satellite_id, device_id):
            if not key:
                continue
            area_id = snap.satellite_areas.get(key)
            if area_id is None and key in snap.entities:
                area_id = snap.entities[key].area_id
            if area_id and area_id in snap.areas:
                return snap.areas[area_id].name
        return None


def apply_service(entity: Entity, service: str, data: Mapping[str, Any]) -> Entity:
    """The state an entity has after a service, as HA would report it (for the home file)."""
    attributes = dict(entity.attributes)
    state = entity.state
    if service == "turn_on":
        state = "on"
        if "brightness_pct" in data:
            pct = max(0, min(100, int(data["brightness_pct"])))
            attributes["brightness"] = round(pct * 255 / 100)
            state = "on" if pct > 0 else "off"
        elif entity.domain == "light" and not attributes.get("brightness"):
            attributes["brightness"] = 255
        if "color_name" in data:
            attributes["color_name"] = data["color_name"]
        if "rgb_color" in data:
            attributes["rgb_color"] = list(data["rgb_color"])
        if "color_temp_kelvin" in data:
            attributes["color_temp_kelvin"] = data["color_temp_kelvin"]
    elif service == "turn_off":
        state = "off"
        if entity.domain == "light":
            attributes["brightness"] = None
    elif service == "toggle":
        state = "off" if entity.state == "on" else "on"
    elif service == "open_cover":
        state = "open"
        attributes["current_position"] = 100
    elif service == "close_cover":
        state = "closed"
        attributes["current_position"] = 0
    elif service == "set_cover_position":
        position = int(data.get("position", 0))
        attributes["current_position"] = position
        state = "open" if position > 0 else "closed"
    elif service == "lock":
        state = "locked"
    elif service == "unlock":
        state = "unlocked"
    elif service == "set_temperature" and "temperature" in data:
        attributes["temperature"] = data["temperature"]
    else:
        raise RtxError(f"{entity.domain}.{service} is not supported", code="unsupported-service")
    return replace(entity, state=state, attributes=attributes)
