"""The HTTP side of the server: status page, live updates, browser satellite, /metrics, /healthz.

Off unless `--http-uri` is given; the bind address comes from that URI. `start()` binds the
port (so a clash fails at start-up, before "Ready") and `stop()` closes every page and
browser satellite. Access control, in order: when `trusted_proxies` is set (the add-on under
Home Assistant ingress) only those addresses are served at all; when a token is set, every
route except /healthz and the static assets needs it (query `token`, `Authorization: Bearer`
or `X-Access-Token`), compared in constant time; browser WebSockets must come from the page's
own origin. Under ingress every URL in the page is relative and `X-Ingress-Path` sets the
page's base, so the same files work at `/` and at `/api/hassio_ingress/<id>/`.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from ..audio.endpoint import BROWSER_RULES, EndOfTurnRules
from ..audio.vad import SpeechDetector
from ..memory import resident_bytes
from .browser import MAX_MESSAGE_BYTES, BrowserSatellite
from .live import LiveHub
from .metrics import CONTENT_TYPE, Metrics
from .status import StatusCollector, StatusSources

if TYPE_CHECKING:
    from ..app import App

_LOGGER = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 10901
INGRESS_PROXY = "172.30.32.2"
"""The Supervisor's ingress proxy: the only peer an add-on's ingress port should serve."""
STATIC_DIR = Path(__file__).parent / "static"
_INGRESS_PATH_RE = re.compile(r"^/[A-Za-z0-9_\-/.]*$")
_OPEN_PATHS = ("/healthz",)
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
}
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
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
    """`http://HOST:PORT` → (host, port); ValueError for anything else."""
    url = URL(uri)
    if url.scheme != "http" or not url.host:
        raise ValueError(f"--http-uri must look like http://HOST:PORT, not {uri!r}")
    port = url.explicit_port if url.explicit_port is not None else DEFAULT_HTTP_PORT
    return url.host, port


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
        self._token = token.encode() if token else None
        self._data_dir = data_dir
        self._trusted = frozenset(trusted_proxies)
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
        application = web.Application(middlewares=[self._guard])
        application.router.add_get("/", self._page)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/api/status", self._status)
        application.router.add_get("/api/events", self._events)
        application.router.add_get("/api/satellite", self._satellite)
        application.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
        application.on_shutdown.append(self._close_sockets)
        return application

    async def start(self) -> None:
        """Bind now, so a port clash fails start-up instead of surfacing later."""
        self._runner = web.AppRunner(self.web_app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        bound = self._runner.addresses
        if bound and self.port == 0:
            self.port = bound[0][1]
        await self.status.start()
        _LOGGER.info("Status page on http://%s:%s/", self.host, self.port)

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

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._trusted and request.remote not in self._trusted:
            _LOGGER.warning(
                "Refused %s from %s (not the ingress proxy)", request.path, request.remote
            )
            raise web.HTTPForbidden(text="forbidden")
        if not self._is_open(request.path) and not self._token_ok(request):
            raise web.HTTPUnauthorized(
                text="access token required", headers={"WWW-Authenticate": "Bearer"}
            )
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    @staticmethod
    def _is_open(path: str) -> bool:
        return path in _OPEN_PATHS or path.startswith("/static/")

    def _token_ok(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        given = request.query.get("token") or request.headers.get("X-Access-Token")
        auth = request.headers.get("Authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth.removeprefix("Bearer ").strip()
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def _same_origin(self, request: web.Request) -> bool:
        """Browsers send Origin on WebSockets; another site's page must not drive our mic path."""
        origin = request.headers.get("Origin")
        if origin is None or request.remote in self._trusted:
            return True
        try:
            return URL(origin).raw_authority == request.host
        except ValueError:
            return False

    async def _page(self, request: web.Request) -> web.Response:
        html = self._index
        base = ingress_base(request)
        if base is not None:
            html = html.replace("<head>", f'<head>\n  <base href="{base}">', 1)
        return web.Response(
            text=html,
            content_type="text/html",
            headers={"Content-Security-Policy": _PAGE_CSP, "Cache-Control": "no-store"},
        )

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
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
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
