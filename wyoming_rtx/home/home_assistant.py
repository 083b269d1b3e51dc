"""The Home Assistant backend: REST for states and services, WebSocket for registries/events.

One supervised task keeps a WebSocket open: it authenticates, reads the area, floor, device
and entity registries and HA's Assist exposure settings, loads states over REST, subscribes to
`state_changed` and registry updates, and refreshes everything periodically as a safety net.
Only the entities HA exposes to Assist enter the snapshot (`exposure.py` has HA's rule), so
local intents and LLM tools can neither see nor control the others.

Exposure stays fresh because HA stores a registered entity's setting in its registry options:
changing it fires `entity_registry_updated`, which triggers a refresh. Changes HA announces
with no event (an entity outside the registry, "expose new entities") are picked up by the
periodic refresh (`refresh_seconds`) and on every reconnect.

`homeassistant/expose_entity/list` requires an admin user. When HA refuses it, one WARNING says
so and the fallback applies: the settings in the entity registry's options (where HA keeps
them for registered entities, readable by any user), HA's defaults for the rest, and nothing
outside the entity registry; never more than HA itself would expose.

If HA is down (at start-up or later) the task retries with backoff while commands are answered
with a spoken error; the token is only ever put in headers and the auth message, never logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ..errors import RtxError
from .exposure import ASSISTANT, Exposure
from .model import Area, Entity, Floor, Home, HomeSnapshot, HomeUnavailableError

_LOGGER = logging.getLogger(__name__)

_REGISTRY_EVENTS = (
    "area_registry_updated",
    "floor_registry_updated",
    "device_registry_updated",
    "entity_registry_updated",
)


class HomeAssistantAuthError(RtxError):
    """HA rejected the token."""

    code = "ha-auth-invalid"


class HomeAssistantCommandError(RtxError):
    """HA answered a WebSocket command with `success: false` (`ha_code` is its error code)."""

    code = "ha-command-failed"

    def __init__(self, message: str, ha_code: str | None) -> None:
        super().__init__(message)
        self.ha_code = ha_code


class EntityNotExposedError(RtxError):
    """A service call named an entity that is not exposed to Assist (refused locally)."""

    code = "entity-not-exposed"


class HomeAssistantHome(Home):
    """Home Assistant as the home: names from its registries, actions through its services."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        refresh_seconds: float = 300.0,
        request_timeout: float = 10.0,
        connect_wait: float = 3.0,
    ) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self._token = token
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.refresh_seconds = refresh_seconds
        self.request_timeout = request_timeout
        self.connect_wait = connect_wait
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._ids = itertools.count(1)
        self._failures = 0
        self._stale = False
        """A registry changed after the running refresh read it: refresh again."""
        self._exposure_fallback: bool | None = None
        """Whether the last refresh used the fallback (None before the first)."""

    def __repr__(self) -> str:
        return f"HomeAssistantHome({self.url!r})"

    @property
    def available(self) -> bool:
        """True while connected and loaded."""
        return self._ready.is_set()

    @property
    def unavailable_message(self) -> str:
        """Spoken while HA is unreachable."""
        return "Sorry, I can't reach Home Assistant right now. Please try again in a moment."

    @property
    def ws_url(self) -> str:
        """The WebSocket API URL (the Supervisor proxy serves it at /core/websocket)."""
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        if parts.hostname == "supervisor" and parts.path.rstrip("/") == "/core":
            return f"{scheme}://{parts.netloc}/core/websocket"
        return f"{scheme}://{parts.netloc}{parts.path}/api/websocket"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def start(self) -> None:
        """Start the connection task; wait briefly for the first load, never raise."""
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.request_timeout)
        )
        self._task = asyncio.create_task(self._run(), name="home-assistant connection")
        try:
            await asyncio.wait_for(self._ready.wait(), self.connect_wait)
        except TimeoutError:
            _LOGGER.warning("Home Assistant at %s not ready yet; retrying in background", self.url)

    async def stop(self) -> None:
        """Cancel the connection task and close the HTTP session."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._ready.clear()

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                await self._connect_once()
                delay = self.retry_initial
            except asyncio.CancelledError:
                raise
            except HomeAssistantAuthError as err:
                _LOGGER.error("Home Assistant at %s: %s", self.url, err)
                delay = self.retry_max
            except (aiohttp.ClientError, OSError, TimeoutError, RtxError, ValueError) as err:
                self._log_outage(str(err) or type(err).__name__)
            except Exception:
                _LOGGER.exception("Unexpected error in the Home Assistant connection")
            self._ready.clear()
            await asyncio.sleep(delay)
            delay = min(self.retry_max, delay * 2)

    def _log_outage(self, reason: str) -> None:
        """One WARNING per outage (connected -> lost, or first failure); retries at DEBUG."""
        if self._ready.is_set():
            _LOGGER.warning("Lost the connection to Home Assistant at %s: %s", self.url, reason)
            self._failures = 1
            return
        self._failures += 1
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        _LOGGER.log(level, "Home Assistant at %s unreachable: %s; retrying", self.url, reason)

    async def _connect_once(self) -> None:
        assert self._session is not None
        async with self._session.ws_connect(self.ws_url, heartbeat=30) as ws:
            first = await ws.receive_json(timeout=self.request_timeout)
            if first.get("type") != "auth_required":
                raise RtxError(f"unexpected first message {first.get('type')!r}")
            await ws.send_json({"type": "auth", "access_token": self._token})
            reply = await ws.receive_json(timeout=self.request_timeout)
            if reply.get("type") == "auth_invalid":
                raise HomeAssistantAuthError(f"token rejected ({reply.get('message', '')})")
            if reply.get("type") != "auth_ok":
                raise RtxError(f"unexpected auth reply {reply.get('type')!r}")
            await self._command(ws, "subscribe_events", event_type="state_changed")
            for event_type in _REGISTRY_EVENTS:
                await self._command(ws, "subscribe_events", event_type=event_type)
            await self._refresh(ws)
            self._failures = 0
            self._ready.set()
            _LOGGER.info(
                "Connected to Home Assistant %s at %s: %d entities exposed to Assist (%s), "
                "%d areas",
                reply.get("ha_version", "?"),
                self.url,
                len(self._snapshot.entities),
                "fallback: registry settings and defaults"
                if self._exposure_fallback
                else "HA's exposure settings",
                len(self._snapshot.areas),
            )
            await self._listen(ws)

    async def _listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Apply pushed events; refresh on registry changes and every `refresh_seconds`.

        The periodic refresh runs on a deadline, not after `refresh_seconds` of silence: a
        busy home sends `state_changed` all the time, and changes HA announces with no event
        (exposure of entities outside the registry, "expose new entities") must still arrive.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.refresh_seconds
        while True:
            if self._stale or loop.time() >= deadline:
                await self._refresh(ws)
                deadline = loop.time() + self.refresh_seconds
                continue
            try:
                message = await ws.receive(timeout=deadline - loop.time())
            except TimeoutError:
                continue
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RtxError(f"WebSocket closed ({message.type.name})")
            if await self._on_message(ws, message.json()):
                self._stale = True

    async def _command(self, ws: aiohttp.ClientWebSocketResponse, kind: str, **data: Any) -> Any:
        """Send one command and read until its result, applying events that arrive meanwhile."""
        msg_id = next(self._ids)
        await ws.send_json({"id": msg_id, "type": kind, **data})
        while True:
            message = await ws.receive_json(timeout=self.request_timeout)
            if message.get("type") == "result" and message.get("id") == msg_id:
                if not message.get("success"):
                    error = message.get("error") or {}
                    code = error.get("code") if isinstance(error, dict) else None
                    text = error.get("message", error) if isinstance(error, dict) else error
                    raise HomeAssistantCommandError(f"{kind} failed: {text} ({code})", code)
                return message.get("result")
            if await self._on_message(ws, message):
                self._stale = True  # read again after this refresh: it may have missed it

    async def _on_message(self, ws: aiohttp.ClientWebSocketResponse, message: Any) -> bool:
        """Apply a pushed event; True when registries changed (a refresh is needed)."""
        if not isinstance(message, dict) or message.get("type") != "event":
            return False
        event = message.get("event") or {}
        event_type = event.get("event_type")
        if event_type in _REGISTRY_EVENTS:
            return True
        if event_type == "state_changed":
            data = event.get("data") or {}
            self._apply_state(data.get("entity_id"), data.get("new_state"))
        return False

    def _apply_state(self, entity_id: str | None, state: Mapping[str, Any] | None) -> None:
        current = self._snapshot.entities.get(entity_id or "")
        if current is None or not state:
            return
        self._snapshot = self._snapshot.with_entity(
            replace(current, state=str(state.get("state")), attributes=state.get("attributes", {}))
        )

    async def _refresh(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Reload registries, exposure (WebSocket) and states (REST) into a new snapshot."""
        self._stale = False
        areas_raw = await self._command(ws, "config/area_registry/list")
        floors_raw = await self._command(ws, "config/floor_registry/list")
        devices_raw = await self._command(ws, "config/device_registry/list")
        entities_raw = await self._command(ws, "config/entity_registry/list")
        registry = {e["entity_id"]: e for e in entities_raw or ()}
        exposure = await self._read_exposure(ws, registry)
        states = await self._get("/api/states")
        devices = {d["id"]: d for d in devices_raw or ()}
        floors = {
            f["floor_id"]: Floor(f["floor_id"], f["name"], tuple(f.get("aliases") or ()))
            for f in floors_raw or ()
        }
        areas = {
            a["area_id"]: Area(
                a["area_id"], a["name"], a.get("floor_id"), tuple(a.get("aliases") or ())
            )
            for a in areas_raw or ()
        }
        exposed: dict[str, Entity] = {}
        for state in states or ():
            entity_id = state["entity_id"]
            attrs = state.get("attributes") or {}
            reg = registry.get(entity_id)
            if not exposure.should_expose(entity_id, reg, attrs.get("device_class")):
                continue
            area_id = (reg or {}).get("area_id")
            if area_id is None and reg and reg.get("device_id") in devices:
                area_id = devices[reg["device_id"]].get("area_id")
            name = (reg or {}).get("name") or attrs.get("friendly_name") or entity_id
            exposed[entity_id] = Entity(
                entity_id, str(name), str(state.get("state")), area_id, (), attrs
            )
        await self._add_aliases(ws, exposed)
        satellites = {d_id: d["area_id"] for d_id, d in devices.items() if d.get("area_id")}
        for entity_id, reg in registry.items():
            if entity_id.startswith("assist_satellite.") and reg.get("device_id") in satellites:
                satellites[entity_id] = satellites[reg["device_id"]]
        self._snapshot = HomeSnapshot(exposed, areas, floors, satellites)

    async def _read_exposure(
        self, ws: aiohttp.ClientWebSocketResponse, registry: Mapping[str, Mapping[str, Any]]
    ) -> Exposure:
        """HA's Assist exposure settings, or the registry-only fallback when HA refuses."""
        try:
            listed = await self._command(ws, "homeassistant/expose_entity/list")
            new = await self._command(
                ws, "homeassistant/expose_new_entities/get", assistant=ASSISTANT
            )
            expose_new = new.get("expose_new") if isinstance(new, dict) else None
            if not isinstance(expose_new, bool):
                raise ValueError(f"expose_new_entities/get: unexpected result {new!r}")
            exposure = Exposure.from_list_result(listed, expose_new)
        except (HomeAssistantCommandError, ValueError) as err:
            if self._exposure_fallback is not True:
                _LOGGER.warning(
                    "Home Assistant did not give its Assist exposure settings (%s; "
                    "homeassistant/expose_entity/list needs an administrator's token): using "
                    "the per-entity settings in the entity registry and HA's defaults for the "
                    "rest; entities outside the entity registry are not exposed",
                    err,
                )
            self._exposure_fallback = True
            return Exposure.from_registry(registry)
        if self._exposure_fallback:
            _LOGGER.info("Home Assistant's Assist exposure settings are readable again")
        self._exposure_fallback = False
        return exposure

    async def _add_aliases(
        self, ws: aiohttp.ClientWebSocketResponse, entities: dict[str, Entity]
    ) -> None:
        """Entity aliases are only in the extended entries (`get_entries`)."""
        if not entities:
            return
        try:
            extended = await self._command(
                ws, "config/entity_registry/get_entries", entity_ids=list(entities)
            )
        except RtxError as err:
            _LOGGER.debug("No entity aliases from Home Assistant: %s", err)
            return
        for entity_id, entry in (extended or {}).items():
            if entry and entity_id in entities and entry.get("aliases"):
                aliases = tuple(a for a in entry["aliases"] if a)
                entities[entity_id] = replace(entities[entity_id], aliases=aliases)

    async def _get(self, path: str) -> Any:
        assert self._session is not None
        async with self._session.get(self.url + path, headers=self._headers()) as response:
            if response.status != 200:
                raise RtxError(f"GET {path}: HTTP {response.status}")
            return await response.json()

    async def call_service(
        self, domain: str, service: str, entity_id: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """POST /api/services/<domain>/<service>; apply the states HA returns."""
        if not self.available or self._session is None:
            raise HomeUnavailableError("Home Assistant is not connected")
        if entity_id not in self._snapshot.entities:
            # Callers only name snapshot entities; this also holds when exposure changed
            # between understanding a command and running it.
            raise EntityNotExposedError(f"{entity_id} is not exposed to Assist")
        path = f"/api/services/{domain}/{service}"
        body = {"entity_id": entity_id, **(data or {})}
        try:
            async with self._session.post(
                self.url + path, json=body, headers=self._headers()
            ) as response:
                if response.status >= 400:
                    text = (await response.text())[:200]
                    raise RtxError(f"{domain}.{service} refused: HTTP {response.status} {text}")
                changed = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise HomeUnavailableError(f"Home Assistant request failed: {err}") from err
        _LOGGER.info("Home Assistant: %s.%s %s %s", domain, service, entity_id, dict(data or {}))
        for state in changed if isinstance(changed, list) else ():
            if isinstance(state, dict):
                self._apply_state(state.get("entity_id"), state)
