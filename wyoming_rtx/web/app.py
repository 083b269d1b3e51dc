"""The HTTP side of the server: status page, live updates, browser satellite, /metrics, /healthz.

Off unless `--http-uri` is given; the bind address comes from that URI. `start()` binds the
port (so a clash fails at start-up, before "Ready") and `stop()` closes every page and
browser satellite. Who may reach any of it (token, cookie, ingress proxy, loopback, Origin,
security headers) is decided in ``access.py``, in front of every route; bound beyond
loopback with neither a token nor a trusted proxy, `prepare()` reads or makes a token
(``token.py``) before anything listens. Under ingress every URL in the page is relative and
`X-Ingress-Path` sets the page's base, so the same files work at `/` and at
`/api/hassio_ingress/<id>/`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from ..audio.endpoint import BROWSER_RULES, EndOfTurnRules
from ..audio.vad import SpeechDetector
from ..memory import resident_bytes
from ..pipeline.announce import Announcement, UnknownTargetError, announce
from .access import INGRESS_PROXY as INGRESS_PROXY  # the package's public name
from .access import AccessGuard
from .browser import MAX_MESSAGE_BYTES, BrowserSatellite
from .live import LiveHub
from .metrics import CONTENT_TYPE, Metrics
from .status import StatusCollector, StatusSources
from .token import StoredToken, load_or_create

if TYPE_CHECKING:
    from ..app import App

_LOGGER = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 10901
STATIC_DIR = Path(__file__).parent / "static"
_INGRESS_PATH_RE = re.compile(r"^/[A-Za-z0-9_\-/.]*$")
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'self'"
)

VadFactory = Callable[[], SpeechDetector]
"""A fresh speech detector per browser utterance (silero's state belongs to one stream)."""


def status_sources(app: App) -> StatusSources:
    """The objects the status page reads, picked out of the app once, here."""
    return StatusSources(
        asr=app.asr,
        tts=app.tts,
        assistant=app.assistant,
        info=app.services.info,
        ready=app.ready,
        satellites=app.pipeline.satellites,
        traces=app.traces,
    )


def parse_http_uri(uri: str) -> tuple[str, int]:
    """`http://HOST:PORT` → (host, port); ValueError for anything else.

    The message starts with the address and reads as a sentence, so the command line can put
    the option's name in front of it ("--http-uri 10901: ...")."""
    example = f"e.g. http://0.0.0.0:{DEFAULT_HTTP_PORT}"
    try:
        url = URL(uri)
    except ValueError:  # yarl: a port that is not a number or out of range, no host
        raise ValueError(
            f"{uri}: the status page's address needs a host and a port from 0 to 65535, {example}"
        ) from None
    if url.scheme != "http" or not url.host:
        raise ValueError(
            f"{uri}: the status page's address must look like http://HOST:PORT, {example}"
        )
    port = url.explicit_port if url.explicit_port is not None else DEFAULT_HTTP_PORT
    return url.host, port


def browse_host(host: str) -> str:
    """The host a person types to open the page: the LAN address for a wildcard bind."""
    from ..lan import lan_address

    if host in ("0.0.0.0", "::", ""):
        host = lan_address() or socket.gethostname()
    return f"[{host}]" if ":" in host else host


def ingress_base(request: web.Request) -> str | None:
    """The page's base path under Home Assistant ingress, when the header is sane."""
    path = request.headers.get("X-Ingress-Path")
    if not path or not _INGRESS_PATH_RE.match(path) or ".." in path:
        return None
    return path.rstrip("/") + "/"


class WebServer:
    """aiohttp application + runner for one App."""

    def __init__(
        self,
        app: App,
        uri: str,
        *,
        token: str | None = None,
        data_dir: Path | None = None,
        trusted_proxies: Iterable[str] = (),
        end_of_turn: EndOfTurnRules = BROWSER_RULES,
        vad_factory: VadFactory = SpeechDetector,
        live_interval: float = 2.0,
    ) -> None:
        self.host, self.port = parse_http_uri(uri)
        self._app = app
        self.access = AccessGuard(
            self.host, lambda: self.port, token=token, trusted_proxies=trusted_proxies
        )
        """Who may reach the page: the middleware in front of every route."""
        self._data_dir = data_dir
        self._stored: StoredToken | None = None
        """The generated token's file, once prepare() has read or made it."""
        self._prepared = False
        self._end_of_turn = end_of_turn
        self._vad_factory = vad_factory
        self._index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        self.metrics = Metrics(app.traces, self._gauges())
        self.status = StatusCollector(status_sources(app))
        self.live = LiveHub(app.pipeline.traces, self.status.snapshot, live_interval)
        self._sockets: set[web.WebSocketResponse] = set()
        self.web_app = self._build()
        self._runner: web.AppRunner | None = None

    def _build(self) -> web.Application:
        application = web.Application(middlewares=[self.access.middleware])
        application.router.add_get("/", self._page)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/api/status", self._status)
        application.router.add_get("/api/events", self._events)
        application.router.add_get("/api/satellite", self._satellite)
        application.router.add_post("/api/announce", self._announcement)
        application.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
        application.on_shutdown.append(self._close_sockets)
        return application

    @property
    def needs_generated_token(self) -> bool:
        """Reachable from the network with nothing else guarding it."""
        return self.access.needs_generated_token

    async def prepare(self) -> None:
        """Read or make the token before anything listens; TokenStoreError (an OSError) if the
        data directory cannot keep it. start() calls it; App may call it earlier so the server
        refuses to start before its Wyoming port listens."""
        if self._prepared:
            return
        if self.needs_generated_token:
            from ..settings import default_data_dir

            data_dir = self._data_dir or default_data_dir()
            self._stored = await asyncio.to_thread(load_or_create, data_dir)
            self.access.set_token(self._stored.value)
        self._prepared = True

    async def start(self) -> None:
        """Bind now, so a port clash fails start-up instead of surfacing later."""
        await self.prepare()
        self._runner = web.AppRunner(self.web_app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        bound = self._runner.addresses
        if bound and self.port == 0:
            self.port = bound[0][1]
        await self.status.start()
        await self._announce()

    async def _announce(self) -> None:
        """Say where the page is; a freshly made token once, in full, where it shows."""
        host = await asyncio.to_thread(browse_host, self.host)
        url = f"http://{host}:{self.port}/"
        stored = self._stored
        if stored is not None and stored.created:
            _LOGGER.warning(
                "Status page reachable from the network: a new access token was made and kept "
                "in %s. Open %s?token=%s (once per browser; it is printed only now)",
                stored.path,
                url,
                stored.value,
            )
        elif stored is not None:
            _LOGGER.info(
                "Status page on %s (access token in %s: open ?token=...)", url, stored.path
            )
        elif self.access.has_token:
            _LOGGER.info("Status page on %s (access token required)", url)
        else:
            _LOGGER.info("Status page on %s", url)

    async def stop(self) -> None:
        """Close pages and browser satellites, then the listening socket."""
        self.metrics.close()
        self.live.close()
        await self.status.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def _close_sockets(self, application: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutdown")

    async def _announcement(self, request: web.Request) -> web.Response:
        """`POST /api/announce` {"message", "satellite" | "area"}: speak it there.

        JSON only, and the WebSocket's Origin rule: another site's page cannot make a
        satellite talk (a form post cannot send application/json without a preflight this
        server never answers, and a foreign Origin is refused outright)."""
        if not self.access.origin_ok(request):
            raise web.HTTPForbidden(text="announcements need the token (Authorization: Bearer)")
        if request.content_type != "application/json":
            return _json_error(415, "send the announcement as application/json")
        try:
            announcement = parse_announcement(
                await request.json(), self._app.tts.settings.max_text_chars
            )
        except ValueError as err:
            return _json_error(400, str(err))
        try:
            sent = await announce(self._app.pipeline.bell.links, self._app.tts, announcement)
        except UnknownTargetError as err:
            return _json_error(404, str(err))
        return web.json_response({"announced_on": sent})

    async def _page(self, request: web.Request) -> web.Response:
        html = self._index
        base = ingress_base(request)
        if base is not None:
            html = html.replace("<head>", f'<head>\n  <base href="{base}">', 1)
        response = web.Response(
            text=html,
            content_type="text/html",
            headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-store"},
        )
        self.access.remember(request, response)
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        """200 once models are loaded; 503 while loading (a probe can wait for Ready)."""
        ready = self._app.ready.is_set()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    def _gauges(self) -> dict[str, tuple[str, Callable[[], float]]]:
        """Live values read at each scrape."""
        app = self._app
        return {
            "wyoming_rtx_ready": ("1 when the models are loaded.", lambda: app.ready.is_set()),
            "wyoming_rtx_satellites_connected": (
                "Satellites (Wyoming and browser) connected now.",
                lambda: len(app.pipeline.satellites),
            ),
            "wyoming_rtx_status_pages_open": ("Status pages open now.", lambda: len(self.live)),
            "wyoming_rtx_resident_memory_bytes": (
                "Resident memory of the server process.",
                resident_bytes,
            ),
        }

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.status.snapshot(), headers={"Cache-Control": "no-store"})

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        if not self.access.origin_ok(request):
            _LOGGER.warning(
                "Refused a WebSocket to %s from %s (Origin %s)",
                request.path,
                request.remote,
                request.headers.get("Origin", "absent, and no token in the request"),
            )
            raise web.HTTPForbidden(
                text="WebSocket refused: foreign origin, or no origin and no token"
            )
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        return ws

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._websocket(request)
        self._sockets.add(ws)
        try:
            await self.live.serve(ws)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _satellite(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._websocket(request)
        self._sockets.add(ws)
        peer = f"browser {request.remote or '?'}:{id(ws) & 0xFFFF:04x}"
        satellite = BrowserSatellite(
            self._app.pipeline,
            ws,
            peer,
            self._vad_factory,
            self._end_of_turn,
            write_timeout=self._app.settings.write_timeout,
        )
        self.status.browser_clients += 1
        try:
            await satellite.run()
        finally:
            self.status.browser_clients -= 1
            self._sockets.discard(ws)
        return ws


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def parse_announcement(body: object, max_chars: int) -> Announcement:
    """The request body as an Announcement; ValueError with a sentence when it is not one."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object: {"message": ..., "satellite": ...}')
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise ValueError('"message" must be a non-empty string')
    if len(message) > max_chars:
        raise ValueError(f'"message" is {len(message)} characters; the limit is {max_chars}')
    satellite, area = body.get("satellite"), body.get("area")
    if (satellite is None) == (area is None):
        raise ValueError('give exactly one of "satellite" (a name) and "area"')
    for key, value in (("satellite", satellite), ("area", area)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f'"{key}" must be a non-empty string')
    return Announcement(message=message.strip(), satellite=satellite, area=area)
