"""The HTTP side of the server: status page, live updates, browser satellite, /metrics, /healthz.

Off unless `--http-uri` is given; the bind address comes from that URI. `start()` binds the
port (so a clash fails at start-up, before "Ready") and `stop()` closes every page and
browser satellite. Access control, in order: when `trusted_proxies` is set (the add-on under
Home Assistant ingress) only those addresses are served at all; when a token is set, every
route except /healthz and the static assets needs it (query `token`, `Authorization: Bearer`,
`X-Access-Token`, or the cookie the page sets when opened with `?token=`), compared in
constant time. Bound beyond loopback with neither a token nor a trusted proxy, the server
makes a token up (``token.py``): the page shows transcripts and its Talk button runs home
actions, so it is never open to the whole network. WebSockets: a foreign `Origin` is always
refused, and one without `Origin` (not a browser) must name the token itself when a token is
set. With neither token nor proxy (loopback only) a request must name a loopback Host, so
DNS rebinding cannot turn another site into this page's origin. Under ingress every URL in
the page is relative and `X-Ingress-Path` sets the page's base, so the same files work at `/`
and at `/api/hassio_ingress/<id>/`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from ..audio.endpoint import BROWSER_RULES, EndOfTurnRules
from ..audio.vad import SpeechDetector
from ..memory import resident_bytes
from ..pipeline.announce import Announcement, UnknownTargetError, announce
from .browser import MAX_MESSAGE_BYTES, BrowserSatellite
from .live import LiveHub
from .metrics import CONTENT_TYPE, Metrics
from .status import StatusCollector, StatusSources
from .token import StoredToken, load_or_create

if TYPE_CHECKING:
    from ..app import App

_LOGGER = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 10901
INGRESS_PROXY = "172.30.32.2"
"""The Supervisor's ingress proxy: the only peer an add-on's ingress port should serve."""
STATIC_DIR = Path(__file__).parent / "static"
_INGRESS_PATH_RE = re.compile(r"^/[A-Za-z0-9_\-/.]*$")
_OPEN_PATHS = ("/healthz",)
COOKIE_PREFIX = "wyoming_rtx_token_"
"""Cookies ignore ports: the port in the name keeps two servers on one host apart."""
COOKIE_MAX_AGE = 400 * 24 * 3600
"""As long as browsers keep a cookie: the token itself does not expire."""
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


def is_loopback_host(host: str) -> bool:
    """True when only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a LAN address


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
        self._token = token.encode() if token else None
        self._data_dir = data_dir
        self._stored: StoredToken | None = None
        """The generated token's file, once prepare() has read or made it."""
        self._prepared = False
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
        application.router.add_post("/api/announce", self._announcement)
        application.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
        application.on_shutdown.append(self._close_sockets)
        return application

    @property
    def needs_generated_token(self) -> bool:
        """Reachable from the network with nothing else guarding it."""
        return self._token is None and not self._trusted and not is_loopback_host(self.host)

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
            self._token = self._stored.value.encode()
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
        elif self._token is not None:
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

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._trusted and request.remote not in self._trusted:
            _LOGGER.warning(
                "Refused %s from %s (not the ingress proxy)", request.path, request.remote
            )
            raise web.HTTPForbidden(text="forbidden")
        if self._open_to_loopback_only() and not self._loopback_name(request):
            _LOGGER.warning(
                "Refused %s for Host %s (not a loopback name)", request.path, request.host
            )
            raise web.HTTPForbidden(
                text=f"this page answers to localhost only: open http://localhost:{self.port}/ "
                "(behind a reverse proxy on this machine, pass --http-trusted-proxy 127.0.0.1)"
            )
        if not self._is_open(request.path) and self._credential(request) is None:
            raise web.HTTPUnauthorized(
                text="access token required: open the page's address with ?token=... "
                "(the server's log says where its token is kept)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    def _open_to_loopback_only(self) -> bool:
        """No token and no proxy: served only because nothing but this machine reaches it."""
        return self._token is None and not self._trusted and is_loopback_host(self.host)

    @staticmethod
    def _loopback_name(request: web.Request) -> bool:
        """The Host the browser asked for is this machine's own name.

        Without it, DNS rebinding would let any web site a local browser visits read the
        page and drive Talk: its name re-resolved to 127.0.0.1 is, to the browser, the same
        origin, so the Origin check alone cannot stop it.
        """
        try:
            name = URL(f"http://{request.host}").host
        except ValueError:
            return False
        return name is not None and is_loopback_host(name)

    @staticmethod
    def _is_open(path: str) -> bool:
        return path in _OPEN_PATHS or path.startswith("/static/")

    @staticmethod
    def cookie_name(request: web.Request) -> str:
        """Named after the port the browser sees (the Host header's, not necessarily ours)."""
        return f"{COOKIE_PREFIX}{request.url.port or ''}"

    def _matches(self, given: str | None) -> bool:
        assert self._token is not None
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def _explicit_token(self, request: web.Request) -> str | None:
        """The token as the request names it itself: query, X-Access-Token or Bearer."""
        given = request.query.get("token") or request.headers.get("X-Access-Token")
        auth = request.headers.get("Authorization", "")
        if not given and auth.startswith("Bearer "):
            given = auth.removeprefix("Bearer ").strip()
        return given

    def _credential(self, request: web.Request) -> str | None:
        """How the request proved itself: "open" (no token set), "explicit", "cookie"; None
        when it did not. A cookie is sent by the browser on its own, so it counts for less
        (see _origin_ok)."""
        if self.needs_generated_token:
            return None  # not prepared yet: never open by default
        if self._token is None:
            return "open"
        if self._matches(self._explicit_token(request)):
            return "explicit"
        if self._matches(request.cookies.get(self.cookie_name(request))):
            return "cookie"
        return None

    def _origin_ok(self, request: web.Request) -> bool:
        """Whether a WebSocket upgrade may go ahead.

        A browser always sends Origin on a WebSocket, so: another site's page is refused
        outright (it must not read transcripts or drive the microphone path); no Origin at
        all is a program, which must name the token itself (query or header; a cookie alone
        is not enough) whenever a token is set. The ingress proxy is trusted as it is for
        every route: Home Assistant's frontend, not this page, is the origin there.
        """
        if request.remote in self._trusted:
            return True
        origin = request.headers.get("Origin")
        if origin is None:
            return self._credential(request) in ("open", "explicit")
        try:
            return URL(origin).raw_authority == request.host
        except ValueError:
            return False

    async def _announcement(self, request: web.Request) -> web.Response:
        """`POST /api/announce` {"message", "satellite" | "area"}: speak it there.

        JSON only, and the WebSocket's Origin rule: another site's page cannot make a
        satellite talk (a form post cannot send application/json without a preflight this
        server never answers, and a foreign Origin is refused outright)."""
        if not self._origin_ok(request):
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
        if self._token is not None and self._matches(request.query.get("token")):
            self._remember(request, response)
        return response

    def _remember(self, request: web.Request, response: web.Response) -> None:
        """Opened with the token: keep it in a cookie, so a reload or bookmark of the page
        without ?token (the page drops it from the address bar) still works. HttpOnly: the
        page's scripts never need to read it; SameSite=Strict: another site's links and
        requests do not carry it."""
        assert self._token is not None
        response.set_cookie(
            self.cookie_name(request),
            self._token.decode(),
            max_age=COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Strict",
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
        if not self._origin_ok(request):
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
