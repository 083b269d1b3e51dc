"""A local server speaking Home Assistant's REST and WebSocket APIs, for tests (127.0.0.1 only).

Written to HA's developer docs (developers.home-assistant.io: "REST API", "WebSocket API") and
the registry entry shapes in homeassistant/helpers/*_registry.py:

- REST (bearer token, else 401): `GET /api/`, `GET /api/states`, `GET /api/states/<id>`,
  `POST /api/services/<domain>/<service>` (returns the changed states; calls are recorded).
- WebSocket `/api/websocket`: `auth_required` -> `auth` -> `auth_ok` / `auth_invalid`, then
  `{"id", "type"}` commands answered with `{"id", "type": "result", "success", "result"}`:
  `config/area_registry/list`, `config/floor_registry/list`, `config/device_registry/list`,
  `config/entity_registry/list` (partial entries with `options.conversation.should_expose`),
  `config/entity_registry/get_entries` (extended entries with `aliases`), `get_states`,
  `subscribe_events` (then `{"id", "type": "event", "event": {...}}`), `ping`.

Usage::

    async with FakeHomeAssistant(token="secret") as ha:       # ha.url
        ha.add_area("kitchen", "Kitchen", floor_id="ground")
        ha.add_entity("light.kitchen", "Kitchen Light", "off", area_id="kitchen")
        ha.calls                                   # [ServiceCall(domain, service, data)]
        await ha.set_state("light.kitchen", "on")  # pushes state_changed to subscribers
        await ha.go_down(); await ha.come_up()     # refused connections, then back
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.site import RestartableSite

HA_VERSION = "2026.2.3"


@dataclass
class ServiceCall:
    """One recorded `POST /api/services/<domain>/<service>`."""

    domain: str
    service: str
    data: dict[str, Any]


@dataclass
class _Entity:
    entity_id: str
    state: str
    attributes: dict[str, Any]
    registry: dict[str, Any] | None
    aliases: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


_SERVICE_STATES = {
    "turn_on": "on",
    "turn_off": "off",
    "open_cover": "open",
    "close_cover": "closed",
    "lock": "locked",
    "unlock": "unlocked",
}


class FakeHomeAssistant(RestartableSite):
    """An aiohttp app on a free 127.0.0.1 port holding a small home."""

    def __init__(self, token: str = "test-token") -> None:
        super().__init__()
        self.token = token
        self.floors: dict[str, dict[str, Any]] = {}
        self.areas: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, _Entity] = {}
        self.calls: list[ServiceCall] = []
        self.ws_commands: list[dict[str, Any]] = []
        self.auth_attempts = 0
        self.service_delay = 0.0
        """Seconds a service call takes before HA answers (a slow Z-Wave device, a busy HA)."""
        self._subscribers: list[tuple[web.WebSocketResponse, int, str | None]] = []
        self._sockets: set[web.WebSocketResponse] = set()

    # --- the home -------------------------------------------------------------------------

    def add_floor(
        self, floor_id: str, name: str, aliases: tuple[str, ...] = (), level: int = 0
    ) -> None:
        """Add a floor registry entry."""
        self.floors[floor_id] = {
            "aliases": list(aliases),
            "created_at": _now(),
            "floor_id": floor_id,
            "icon": None,
            "level": level,
            "modified_at": _now(),
            "name": name,
        }

    def add_area(
        self, area_id: str, name: str, floor_id: str | None = None, aliases: tuple[str, ...] = ()
    ) -> None:
        """Add an area registry entry."""
        self.areas[area_id] = {
            "aliases": list(aliases),
            "area_id": area_id,
            "floor_id": floor_id,
            "humidity_entity_id": None,
            "icon": None,
            "labels": [],
            "name": name,
            "picture": None,
            "temperature_entity_id": None,
            "created_at": _now(),
            "modified_at": _now(),
        }

    def add_device(self, device_id: str, name: str, area_id: str | None = None) -> None:
        """Add a device registry entry."""
        self.devices[device_id] = {
            "area_id": area_id,
            "config_entries": [],
            "id": device_id,
            "manufacturer": "Fake",
            "model": "Fake",
            "name": name,
            "name_by_user": None,
            "disabled_by": None,
            "entry_type": None,
            "labels": [],
        }

    def add_entity(
        self,
        entity_id: str,
        name: str,
        state: str,
        *,
        area_id: str | None = None,
        device_id: str | None = None,
        attributes: dict[str, Any] | None = None,
        aliases: tuple[str, ...] = (),
        should_expose: bool | None = True,
        registered: bool = True,
    ) -> None:
        """Add a state (with friendly_name) and, when `registered`, an entity registry entry."""
        attrs = {"friendly_name": name, **(attributes or {})}
        registry = None
        if registered:
            options: dict[str, Any] = {}
            if should_expose is not None:
                options["conversation"] = {"should_expose": should_expose}
            registry = {
                "area_id": area_id,
                "categories": {},
                "config_entry_id": None,
                "device_id": device_id,
                "disabled_by": None,
                "entity_category": None,
                "entity_id": entity_id,
                "has_entity_name": False,
                "hidden_by": None,
                "icon": None,
                "id": uuid.uuid4().hex,
                "labels": [],
                "name": None,
                "options": options,
                "original_name": name,
                "platform": "demo",
                "translation_key": None,
                "unique_id": entity_id,
            }
        self.entities[entity_id] = _Entity(entity_id, state, attrs, registry, list(aliases))

    def state_of(self, entity_id: str) -> str:
        """Current state of an entity."""
        return self.entities[entity_id].state

    def _state_json(self, entity: _Entity) -> dict[str, Any]:
        return {
            "entity_id": entity.entity_id,
            "state": entity.state,
            "attributes": entity.attributes,
            "last_changed": _now(),
            "last_reported": _now(),
            "last_updated": _now(),
            "context": {"id": uuid.uuid4().hex, "parent_id": None, "user_id": None},
        }

    async def set_state(
        self, entity_id: str, state: str, attributes: dict[str, Any] | None = None
    ) -> None:
        """Change a state and push `state_changed` to subscribers."""
        entity = self.entities[entity_id]
        old = self._state_json(entity)
        entity.state = state
        if attributes:
            entity.attributes.update(attributes)
        await self._fire(
            "state_changed",
            {"entity_id": entity_id, "old_state": old, "new_state": self._state_json(entity)},
        )

    async def fire_registry_updated(self, kind: str = "entity") -> None:
        """Push `<kind>_registry_updated` (after editing areas/entities in a test)."""
        await self._fire(f"{kind}_registry_updated", {"action": "update"})

    async def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        for ws, sub_id, wanted in list(self._subscribers):
            if wanted not in (None, event_type) or ws.closed:
                continue
            await ws.send_json(
                {
                    "id": sub_id,
                    "type": "event",
                    "event": {
                        "event_type": event_type,
                        "data": data,
                        "origin": "LOCAL",
                        "time_fired": _now(),
                        "context": {"id": uuid.uuid4().hex, "parent_id": None, "user_id": None},
                    },
                }
            )

    # --- server lifecycle ----------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/", self._api_root)
        app.router.add_get("/api/states", self._states)
        app.router.add_get("/api/states/{entity_id}", self._state)
        app.router.add_post("/api/services/{domain}/{service}", self._service)
        app.router.add_get("/api/websocket", self._websocket)
        return app

    async def go_down(self) -> None:
        """Stop listening and drop open WebSockets (HA restarting)."""
        for ws in list(self._sockets):
            await ws.close()
        await super().go_down()

    # --- REST ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _api_root(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="401: Unauthorized")
        return web.json_response({"message": "API running."})

    async def _states(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="401: Unauthorized")
        return web.json_response([self._state_json(e) for e in self.entities.values()])

    async def _state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="401: Unauthorized")
        entity = self.entities.get(request.match_info["entity_id"])
        if entity is None:
            return web.json_response({"message": "Entity not found."}, status=404)
        return web.json_response(self._state_json(entity))

    async def _service(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="401: Unauthorized")
        domain, service = request.match_info["domain"], request.match_info["service"]
        data = await request.json() if request.can_read_body else {}
        await asyncio.sleep(self.service_delay)
        self.calls.append(ServiceCall(domain, service, dict(data)))
        ids = data.get("entity_id", [])
        ids = [ids] if isinstance(ids, str) else list(ids)
        changed = []
        for entity_id in ids:
            entity = self.entities.get(entity_id)
            if entity is None or service not in _SERVICE_STATES:
                continue
            attrs = {k: data[k] for k in ("brightness_pct", "color_name") if k in data}
            if "brightness_pct" in attrs:
                attrs["brightness"] = round(int(attrs.pop("brightness_pct")) * 255 / 100)
            await self.set_state(entity_id, _SERVICE_STATES[service], attrs)
            changed.append(self._state_json(entity))
        return web.json_response(changed)

    # --- WebSocket ----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_json({"type": "auth_required", "ha_version": HA_VERSION})
            auth = await ws.receive_json(timeout=10)
            self.auth_attempts += 1
            if auth.get("type") != "auth" or auth.get("access_token") != self.token:
                await ws.send_json({"type": "auth_invalid", "message": "Invalid access token"})
                await ws.close()
                return ws
            await ws.send_json({"type": "auth_ok", "ha_version": HA_VERSION})
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    break
                await self._ws_command(ws, message.json())
        except (TimeoutError, ConnectionError, TypeError, ValueError):
            pass
        finally:
            self._sockets.discard(ws)
            self._subscribers = [s for s in self._subscribers if s[0] is not ws]
        return ws

    async def _ws_command(self, ws: web.WebSocketResponse, command: dict[str, Any]) -> None:
        self.ws_commands.append(command)
        msg_id, kind = command.get("id"), command.get("type")
        result: Any = None
        if kind == "config/area_registry/list":
            result = list(self.areas.values())
        elif kind == "config/floor_registry/list":
            result = list(self.floors.values())
        elif kind == "config/device_registry/list":
            result = list(self.devices.values())
        elif kind == "config/entity_registry/list":
            result = [e.registry for e in self.entities.values() if e.registry]
        elif kind == "config/entity_registry/get_entries":
            result = {}
            for entity_id in command.get("entity_ids", []):
                entity = self.entities.get(entity_id)
                result[entity_id] = (
                    {
                        **entity.registry,
                        "aliases": entity.aliases,
                        "capabilities": None,
                        "device_class": None,
                        "original_device_class": None,
                        "original_icon": None,
                    }
                    if entity and entity.registry
                    else None
                )
        elif kind == "get_states":
            result = [self._state_json(e) for e in self.entities.values()]
        elif kind == "subscribe_events":
            self._subscribers.append((ws, int(msg_id or 0), command.get("event_type")))
        elif kind == "ping":
            await ws.send_json({"id": msg_id, "type": "pong"})
            return
        else:
            await ws.send_json(
                {
                    "id": msg_id,
                    "type": "result",
                    "success": False,
                    "error": {"code": "unknown_command", "message": "Unknown command."},
                }
            )
            return
        await ws.send_json({"id": msg_id, "type": "result", "success": True, "result": result})
