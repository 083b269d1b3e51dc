"""The Home Assistant backend: REST for states and services, WebSocket for registries/events.

One supervised task keeps a WebSocket open: it authenticates, reads the area, floor, device
and entity registries (only entities exposed to Assist), loads states over REST, subscribes to
`state_changed` and registry updates, and refreshes everything periodically as a safety net.
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
from .model import Area, Entity, Floor, Home, HomeSnapshot, HomeUnavailableError

_LOGGER = logging.getLogger(__name__)

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
"""HA's defaults for entities with no explicit Assist exposure setting."""
DEFAULT_EXPOSED_SENSOR_CLASSES = frozenset(
    {
        "temperature",
        "humidity",
        "co",
        "co2",
        "pm25",
        "pm10",
        "aqi",
        "door",
        "garage_door",
        "lock",
        "moisture",
        "motion",
        "occupancy",
        "presence",
        "window",
    }
)
_REGISTRY_EVENTS = (
    "area_registry_updated",
    "floor_registry_updated",
    "device_registry_updated",
    "entity_registry_updated",
)


class HomeAssistantAuthError(RtxError):
    """HA rejected the token."""

    code = "ha-auth-invalid"


def _is_exposed(entity_id: str, reg: Mapping[str, Any] | None, attrs: Mapping[str, Any]) -> bool:
    domain = entity_id.split(".", 1)[0]
    if reg is not None:
        if reg.get("disabled_by") or reg.get("entity_category"):
            return False
        conversation = (reg.get("options") or {}).get("conversation") or {}
        if "should_expose" in conversation:
            return bool(conversation["should_expose"])
    if domain in DEFAULT_EXPOSED_DOMAINS:
        return True
    return domain in ("sensor", "binary_sensor") and (
        attrs.get("device_class") in DEFAULT_EXPOSED_SENSOR_CLASSES
    )


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
                "Connected to Home Assistant %s at %s: %d exposed entities, %d areas",
                reply.get("ha_version", "?"),
                self.url,
                len(self._snapshot.entities),
                len(self._snapshot.areas),
            )
            while True:
                try:
                    message = await ws.receive(timeout=self.refresh_seconds)
                except TimeoutError:
                    await self._refresh(ws)
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise RtxError(f"WebSocket closed ({message.type.name})")
                if await self._on_message(ws, message.json()):
                    await self._refresh(ws)

    async def _command(self, ws: aiohttp.ClientWebSocketResponse, kind: str, **data: Any) -> Any:
        """Send one command and read until its result, applying events that arrive meanwhile."""
        msg_id = next(self._ids)
        await ws.send_json({"id": msg_id, "type": kind, **data})
        refresh = False
        while True:
            message = await ws.receive_json(timeout=self.request_timeout)
            if message.get("type") == "result" and message.get("id") == msg_id:
                if not message.get("success"):
                    error = message.get("error") or {}
                    raise RtxError(f"{kind} failed: {error.get('message', error)}")
                if refresh:
                    _LOGGER.debug("Registry changed during a refresh; next refresh picks it up")
                return message.get("result")
            refresh |= await self._on_message(ws, message)

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
        """Reload registries (WebSocket) and states (REST) into a new snapshot."""
        areas_raw = await self._command(ws, "config/area_registry/list")
        floors_raw = await self._command(ws, "config/floor_registry/list")
        devices_raw = await self._command(ws, "config/device_registry/list")
        entities_raw = await self._command(ws, "config/entity_registry/list")
        states = await self._get("/api/states")
        registry = {e["entity_id"]: e for e in entities_raw or ()}
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
            if not _is_exposed(entity_id, reg, attrs):
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
