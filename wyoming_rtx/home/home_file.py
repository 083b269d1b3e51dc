"""The standalone home: a YAML file of floors, areas and entities whose state we keep.

It makes the server useful (and testable) without Home Assistant: intents change the state in
memory, GetState reads it back, and every change is logged so a user can see what "happened".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import RtxError
from .model import Area, Entity, Floor, Home, HomeSnapshot, apply_service

_LOGGER = logging.getLogger(__name__)

DEMO_HOME = "demo_home.yaml"


class HomeFileError(RtxError):
    """The home file is missing or malformed."""

    code = "home-file-invalid"


def _aliases(item: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(a) for a in item.get("aliases") or ())


def parse_home(data: Any, source: str = "home file") -> HomeSnapshot:
    """Build a snapshot from the parsed YAML; errors name the offending item."""
    if not isinstance(data, Mapping):
        raise HomeFileError(f"{source}: expected a mapping with floors, areas and entities")
    try:
        floors = {
            str(f["id"]): Floor(str(f["id"]), str(f["name"]), _aliases(f))
            for f in data.get("floors") or ()
        }
        areas = {
            str(a["id"]): Area(
                str(a["id"]),
                str(a["name"]),
                str(a["floor"]) if a.get("floor") else None,
                _aliases(a),
            )
            for a in data.get("areas") or ()
        }
        entities: dict[str, Entity] = {}
        for e in data.get("entities") or ():
            entity_id = str(e["id"])
            if "." not in entity_id:
                raise HomeFileError(f"{source}: entity id {entity_id!r} needs a domain prefix")
            area_id = str(e["area"]) if e.get("area") else None
            if area_id is not None and area_id not in areas:
                raise HomeFileError(f"{source}: {entity_id} is in unknown area {area_id!r}")
            entities[entity_id] = Entity(
                entity_id=entity_id,
                name=str(e.get("name") or entity_id.split(".", 1)[1].replace("_", " ")),
                state=str(e.get("state", "off")),
                area_id=area_id,
                aliases=_aliases(e),
                attributes=dict(e.get("attributes") or {}),
            )
        satellites = {str(k): str(v) for k, v in (data.get("satellites") or {}).items()}
    except (KeyError, TypeError, AttributeError) as err:
        raise HomeFileError(f"{source}: malformed entry ({err!r})") from err
    for area in areas.values():
        if area.floor_id is not None and area.floor_id not in floors:
            raise HomeFileError(f"{source}: area {area.name} is on unknown floor {area.floor_id}")
    return HomeSnapshot(entities, areas, floors, satellites)


class FileHome(Home):
    """Home backed by a YAML file (or the bundled demo home); state lives in memory."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self._loaded = False

    @property
    def available(self) -> bool:
        """Always available once loaded: the state is ours."""
        return self._loaded

    async def start(self) -> None:
        """Read and parse the file off the event loop (a bad file is a clear start-up error)."""
        if self._loaded:
            return
        self._snapshot = await asyncio.to_thread(self._load)
        self._loaded = True
        _LOGGER.info(
            "Home file %s: %d entities, %d areas, %d floors",
            self.path or DEMO_HOME,
            len(self._snapshot.entities),
            len(self._snapshot.areas),
            len(self._snapshot.floors),
        )

    def _load(self) -> HomeSnapshot:
        if self.path is None:
            text = resources.files(__package__).joinpath(DEMO_HOME).read_text(encoding="utf-8")
            source = DEMO_HOME
        else:
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError as err:
                raise HomeFileError(f"cannot read home file {self.path}: {err}") from err
            source = str(self.path)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise HomeFileError(f"{source}: invalid YAML: {err}") from err
        return parse_home(data, source)

    async def stop(self) -> None:
        """Nothing to release: the state is in memory."""

    async def call_service(
        self, domain: str, service: str, entity_id: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Apply the service to the in-memory state and log the change."""
        entity = self._snapshot.entities.get(entity_id)
        if entity is None:
            raise RtxError(f"unknown entity {entity_id}", code="unknown-entity")
        updated = apply_service(entity, service, data or {})
        self._snapshot = self._snapshot.with_entity(updated)
        _LOGGER.info(
            "Home: %s.%s %s: %s -> %s %s",
            domain,
            service,
            entity_id,
            entity.state,
            updated.state,
            dict(data or {}) or "",
        )
