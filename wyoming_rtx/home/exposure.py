"""Home Assistant's rule for which entities Assist may see and control, applied exactly.

Mirrors `homeassistant/components/homeassistant/exposed_entities.py` (`async_should_expose`,
`_async_should_expose_legacy_entity`, `_is_default_exposed`) for the "conversation" assistant,
which is what HA's own conversation agent and its LLM API use:

1. `group.all_locks` (HA's CLOUD_NEVER_EXPOSED_ENTITIES) is never exposed.
2. An explicit per-entity setting wins, whatever the entity's domain, `hidden_by` or
   `entity_category`. HA keeps it in the entity registry entry's
   `options["conversation"]["should_expose"]`, or, for an entity without a unique id (not in
   the registry), in its own store; `homeassistant/expose_entity/list` returns both.
3. Only an entity without a setting gets HA's defaults: nothing when "expose new entities"
   (`expose_new` for "conversation", default on) is off; otherwise not when the registry entry
   has an `entity_category` or a `hidden_by`, else yes for the default domains and for binary
   sensors and sensors of the default device classes.

HA persists the default it computes the first time it evaluates an entity, so on a running
HA most entities already carry an explicit setting; defaults matter for new entities.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ASSISTANT = "conversation"
"""HA's assistant id for Assist (its conversation agent and LLM API)."""

NEVER_EXPOSED = frozenset({"group.all_locks"})
"""HA's CLOUD_NEVER_EXPOSED_ENTITIES: refused even with an explicit setting."""

DEFAULT_EXPOSED_DOMAINS = frozenset(
    {
        "climate",
        "cover",
        "fan",
        "humidifier",
        "light",
        "media_player",
        "scene",
        "switch",
        "todo",
        "vacuum",
        "water_heater",
    }
)
DEFAULT_EXPOSED_BINARY_SENSOR_DEVICE_CLASSES = frozenset(
    {"door", "garage_door", "lock", "motion", "opening", "presence", "window"}
)
DEFAULT_EXPOSED_SENSOR_DEVICE_CLASSES = frozenset(
    {
        "aqi",
        "carbon_dioxide",
        "carbon_monoxide",
        "humidity",
        "pm10",
        "pm25",
        "temperature",
        "volatile_organic_compounds",
    }
)


@dataclass(frozen=True)
class Exposure:
    """The exposure settings read from HA, and how complete they are.

    `complete` is True when they came from `homeassistant/expose_entity/list` (every entity,
    registered or not). It is False in the fallback (HA refused the command: not an admin, or
    too old): then only the settings stored in entity registry options are known, and an
    entity outside the registry, whose setting HA keeps where we cannot read it, is not exposed.
    """

    settings: Mapping[str, bool] = field(default_factory=dict)
    """entity_id -> explicit `should_expose` for the "conversation" assistant."""
    expose_new: bool = True
    """HA's "expose new entities" for Assist (its default is on)."""
    complete: bool = True

    @classmethod
    def from_list_result(cls, result: Any, expose_new: bool = True) -> Exposure:
        """From `homeassistant/expose_entity/list`: `{"exposed_entities": {id: {asst: bool}}}`.

        Raises ValueError for any other shape, so a surprise never widens exposure.
        """
        entities = result.get("exposed_entities") if isinstance(result, Mapping) else None
        if not isinstance(entities, Mapping):
            raise ValueError("expose_entity/list: no exposed_entities mapping")
        settings: dict[str, bool] = {}
        for entity_id, assistants in entities.items():
            if not isinstance(assistants, Mapping):
                raise ValueError(f"expose_entity/list: bad entry for {entity_id}")
            value = assistants.get(ASSISTANT)
            if isinstance(value, bool):
                settings[str(entity_id)] = value
        return cls(settings, expose_new, complete=True)

    @classmethod
    def from_registry(cls, registry: Mapping[str, Mapping[str, Any]]) -> Exposure:
        """The fallback: settings from `config/entity_registry/list` entries' options."""
        settings: dict[str, bool] = {}
        for entity_id, entry in registry.items():
            value = _registry_setting(entry)
            if value is not None:
                settings[entity_id] = value
        return cls(settings, expose_new=True, complete=False)

    def should_expose(
        self, entity_id: str, entry: Mapping[str, Any] | None, device_class: Any
    ) -> bool:
        """HA's `async_should_expose("conversation", entity_id)`, without its side effects.

        `entry` is the entity's registry entry (None when it has none); `device_class` is the
        state's `device_class` attribute, which HA sets from the registry's `device_class` or
        `original_device_class` as its `get_device_class` reads them.
        """
        if entity_id in NEVER_EXPOSED:
            return False
        explicit = self.settings.get(entity_id)
        if explicit is not None:
            return explicit
        if entry is not None and (explicit := _registry_setting(entry)) is not None:
            return explicit  # set after the list was read; same store HA reads
        if entry is None and not self.complete:
            return False  # its setting lives in HA's store, which a non-admin cannot read
        if not self.expose_new:
            return False
        return is_default_exposed(entity_id, entry, device_class)


def is_default_exposed(entity_id: str, entry: Mapping[str, Any] | None, device_class: Any) -> bool:
    """HA's `_is_default_exposed`: only consulted for an entity with no explicit setting."""
    if entry is not None and (
        entry.get("entity_category") is not None or entry.get("hidden_by") is not None
    ):
        return False
    domain = entity_id.split(".", 1)[0]
    if domain in DEFAULT_EXPOSED_DOMAINS:
        return True
    if domain == "binary_sensor":
        return device_class in DEFAULT_EXPOSED_BINARY_SENSOR_DEVICE_CLASSES
    if domain == "sensor":
        return device_class in DEFAULT_EXPOSED_SENSOR_DEVICE_CLASSES
    return False


def _registry_setting(entry: Mapping[str, Any]) -> bool | None:
    """`options["conversation"]["should_expose"]` of a registry entry, if it is set."""
    options = entry.get("options")
    assistant = options.get(ASSISTANT) if isinstance(options, Mapping) else None
    value = assistant.get("should_expose") if isinstance(assistant, Mapping) else None
    return value if isinstance(value, bool) else None
