"""A local server speaking Home Assistant's REST and WebSocket APIs, for tests (127.0.0.1 only).

Written to HA's developer docs (developers.home-assistant.io: "REST API", "WebSocket API") and
the registry entry shapes in homeassistant/helpers/*_registry.py:

- REST (bearer token, else 401): `GET /api/`, `GET /api/states`, `GET /api/states/<id>`,
  `POST /api/services/<domain>/<service>` (returns the changed states; calls are recorded;
  on/off, open/close, lock/unlock and `climate.set_temperature` change the state).
- WebSocket `/api/websocket`: `auth_required` -> `auth` -> `auth_ok` / `auth_invalid`, then
  `{"id", "type"}` commands answered with `{"id", "type": "result", "success", "result"}`:
  `config/area_registry/list`, `config/floor_registry/list`, `config/device_registry/list`,
  `config/entity_registry/list` (partial entries with `options.conversation.should_expose`,
  `hidden_by`, `entity_category`), `config/entity_registry/get_entries` (extended entries with
  `aliases`), `get_states`, `subscribe_events` (then `{"id", "type": "event", "event": {...}}`),
  `ping`.
- Assist exposure, as homeassistant/components/homeassistant/exposed_entities.py serves it (all
  three admin-only: `@websocket_api.require_admin`, else `{"code": "unauthorized", "message":
  "Unauthorized"}`): `homeassistant/expose_entity/list` -> `{"exposed_entities": {entity_id:
  {assistant: should_expose}}}` for every registry entity (`{}` when it has no setting) and every
  entity outside the registry that has stored settings; `homeassistant/expose_new_entities/get`
  -> `{"expose_new": bool}`; `homeassistant/expose_entity`. A registered entity's setting lives
  in its registry options, so changing it fires `entity_registry_updated`; an unregistered
  entity's setting and "expose new entities" change silently, as in HA.

Usage::

    async with FakeHomeAssistant(token="secret") as ha:       # ha.url
        ha.add_area("kitchen", "Kitchen", floor_id="ground")
        ha.add_entity("light.kitchen", "Kitchen Light", "off", area_id="kitchen")
        ha.add_entity("switch.x", "X", "off", should_expose=None, hidden_by="user")
        await ha.expose("light.kitchen", False)    # as HA's expose toggle does
        ha.admin = False                           # the token's user is not an administrator
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
KNOWN_ASSISTANTS = ("cloud.alexa", "cloud.google_assistant", "conversation")
CLOUD_NEVER_EXPOSED_ENTITIES = ("group.all_locks",)
_UNAUTHORIZED = {"code": "unauthorized", "message": "Unauthorized"}
_EXPOSURE_COMMANDS = frozenset(
    {
        "homeassistant/expose_entity",
        "homeassistant/expose_entity/list",
        "homeassistant/expose_new_entities/get",
        "homeassistant/expose_new_entities/set",
    }
)


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


def _timestamp() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


_SERVICE_STATES = {
    "turn_on": "on",
    "turn_off": "off",
    "open_cover": "open",
    "close_cover": "closed",
    "lock": "locked",
    "unlock": "unlocked",
}
_CLIMATE_TARGETS = ("temperature", "target_temp_low", "target_temp_high")
"""`climate.set_temperature` fields that become the entity's attributes of the same name."""


class FakeHomeAssistant(RestartableSite):
    """An aiohttp app on a free 127.0.0.1 port holding a small home."""

    def __init__(self, token: str = "test-token", *, admin: bool = True) -> None:
        super().__init__()
        self.token = token
        self.admin = admin
        """Whether the token's user is an administrator (HA's admin-only commands need it)."""
        self.expose_new: dict[str, bool] = {"conversation": True}
        """HA's "expose new entities" per assistant (DEFAULT_EXPOSED_ASSISTANT)."""
        self.legacy_exposure: dict[str, dict[str, dict[str, Any]]] = {}
        """Settings of entities outside the registry: entity_id -> assistant -> options."""
        self.floors: dict[str, dict[str, Any]] = {}
        self.areas: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, _Entity] = {}
        self.calls: list[ServiceCall] = []
        self.ws_commands: list[dict[str, Any]] = []
        self.auth_attempts = 0
        self.service_delay = 0.0
        """Seconds a service call takes before HA answers (a slow Z-Wave device, a busy HA)."""
        self.states_delay = 0.0
        """Seconds `GET /api/states` takes (a large home): registry events can arrive meanwhile."""
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
        hidden_by: str | None = None,
        entity_category: str | None = None,
    ) -> None:
        """Add a state (with friendly_name) and, when `registered`, an entity registry entry.

        `should_expose` is the explicit Assist setting (None: none yet, HA's defaults apply);
        it goes into the registry options, or HA's own store for an unregistered entity.
        `hidden_by` is "user" or "integration"; `entity_category` "config" or "diagnostic".
        """
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
                "config_subentry_id": None,
                "created_at": _timestamp(),
                "device_id": device_id,
                "disabled_by": None,
                "entity_category": entity_category,
                "entity_id": entity_id,
                "has_entity_name": False,
                "hidden_by": hidden_by,
                "icon": None,
                "id": uuid.uuid4().hex,
                "labels": [],
                "modified_at": _timestamp(),
                "name": None,
                "options": options,
                "original_name": name,
                "platform": "demo",
                "translation_key": None,
                "unique_id": entity_id,
            }
        elif should_expose is not None:
            self.legacy_exposure[entity_id] = {"conversation": {"should_expose": should_expose}}
        self.entities[entity_id] = _Entity(entity_id, state, attrs, registry, list(aliases))

    async def expose(
        self, entity_id: str, should_expose: bool, assistant: str = "conversation"
    ) -> None:
        """HA's `async_expose_entity`: the Voice assistants > Expose toggle.

        A registered entity's setting is its registry options (`entity_registry_updated` is
        fired, as `async_update_entity_options` does); an unregistered one's is HA's store
        (no event).
        """
        entity = self.entities[entity_id]
        if entity.registry is None:
            assistants = self.legacy_exposure.setdefault(entity_id, {})
            assistants[assistant] = {
                **assistants.get(assistant, {}),
                "should_expose": should_expose,
            }
            return
        old = entity.registry["options"]
        current = old.get(assistant, {})
        if current and current.get("should_expose") == should_expose:
            return
        await self.update_registry_entry(
            entity_id,
            options={**old, assistant: {**current, "should_expose": should_expose}},
        )

    async def update_registry_entry(self, entity_id: str, **changes: Any) -> None:
        """Change registry fields (e.g. hidden_by) and fire `entity_registry_updated`."""
        registry = self.entities[entity_id].registry
        assert registry is not None, f"{entity_id} is not in the entity registry"
        old = {key: registry[key] for key in changes}
        registry.update(changes, modified_at=_timestamp())
        await self._fire(
            "entity_registry_updated",
            {"action": "update", "entity_id": entity_id, "changes": old},
        )

    def exposure_list(self) -> dict[str, dict[str, bool]]:
        """`ws_list_exposed_entities`: legacy store entries, then every registry entry."""
        result: dict[str, dict[str, bool]] = {}
        sources = [(eid, a) for eid, a in self.legacy_exposure.items()]
        sources += [
            (e.entity_id, e.registry["options"]) for e in self.entities.values() if e.registry
        ]
        for entity_id, settings in sources:
            result[entity_id] = {
                assistant: options["should_expose"]
                for assistant in KNOWN_ASSISTANTS
                if (options := settings.get(assistant)) and "should_expose" in options
            }
        return result

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
        await asyncio.sleep(self.states_delay)
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
            if entity is not None and await self._apply_service(entity, domain, service, data):
                changed.append(self._state_json(entity))
        return web.json_response(changed)

    async def _apply_service(
        self, entity: _Entity, domain: str, service: str, data: dict[str, Any]
    ) -> bool:
        """Change the entity as the service would; False when the fake does not model it."""
        if (domain, service) == ("climate", "set_temperature"):
            # ClimateEntity: the target is the `temperature` attribute (or the low/high pair);
            # the state is the HVAC mode, changed only by an `hvac_mode` in the same call.
            attrs = {k: data[k] for k in _CLIMATE_TARGETS if k in data}
            await self.set_state(entity.entity_id, data.get("hvac_mode", entity.state), attrs)
            return True
        if service not in _SERVICE_STATES:
            return False
        attrs = {k: data[k] for k in ("brightness_pct", "color_name") if k in data}
        if "brightness_pct" in attrs:
            attrs["brightness"] = round(int(attrs.pop("brightness_pct")) * 255 / 100)
        await self.set_state(entity.entity_id, _SERVICE_STATES[service], attrs)
        return True

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
        if isinstance(kind, str) and kind.startswith("homeassistant/expose"):
            await self._exposure_command(ws, command)
            return
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

    async def _exposure_command(self, ws: web.WebSocketResponse, command: dict[str, Any]) -> None:
        """The admin-only commands of exposed_entities.py, with HA's result and error shapes."""
        msg_id, kind = command.get("id"), command.get("type")
        if kind not in _EXPOSURE_COMMANDS:
            await self._send_error(ws, msg_id, "unknown_command", "Unknown command.")
            return
        if not self.admin:  # require_admin raises Unauthorized before the handler runs
            await ws.send_json(
                {"id": msg_id, "type": "result", "success": False, "error": _UNAUTHORIZED}
            )
            return
        result: Any = None
        if kind == "homeassistant/expose_entity/list":
            result = {"exposed_entities": self.exposure_list()}
        elif kind in (
            "homeassistant/expose_new_entities/get",
            "homeassistant/expose_new_entities/set",
        ):
            assistant = command.get("assistant")
            if assistant not in KNOWN_ASSISTANTS:
                await self._send_error(ws, msg_id, "invalid_format", "bad assistant")
                return
            if kind.endswith("/get"):
                result = {"expose_new": self.expose_new.get(assistant, False)}
            else:
                self.expose_new[assistant] = bool(command.get("expose_new"))
        else:  # homeassistant/expose_entity
            blocked = [
                e for e in command.get("entity_ids", []) if e in CLOUD_NEVER_EXPOSED_ENTITIES
            ]
            if blocked:
                await self._send_error(ws, msg_id, "not_allowed", f"can't expose '{blocked[0]}'")
                return
            for entity_id in command.get("entity_ids", []):
                for assistant in command.get("assistants", []):
                    await self.expose(entity_id, bool(command.get("should_expose")), assistant)
        await ws.send_json({"id": msg_id, "type": "result", "success": True, "result": result})

    async def _send_error(
        self, ws: web.WebSocketResponse, msg_id: Any, code: str, message: str
    ) -> None:
        await ws.send_json(
            {
                "id": msg_id,
                "type": "result",
                "success": False,
                "error": {"code": code, "message": message},
            }
        )
