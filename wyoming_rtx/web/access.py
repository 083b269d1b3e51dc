"""Who may reach the status page: one middleware in front of every route, and its cookie.

Kept apart from the routes (``app.py``) so that the security logic sits in one place that can
be read and reviewed alone. Access control, in order: when `trusted_proxies` is set (the
add-on under Home Assistant ingress) only those addresses are served at all; with neither a
token nor a trusted proxy (loopback only) a request must name a loopback Host, so DNS
rebinding cannot turn another site into this page's origin; when a token is set, every route
except /healthz and the static assets needs it (query `token`, `Authorization: Bearer`,
`X-Access-Token`, or the cookie the page sets when opened with `?token=`), compared in
constant time. Bound beyond loopback with neither a token nor a trusted proxy, the server
makes a token up (``token.py``) and nothing is served until it has: the page shows
transcripts and its Talk button runs home actions, so it is never open to the whole network.
WebSockets and announcements: a foreign `Origin` is always refused, and one without `Origin`
(not a browser) must name the token itself when a token is set. Every answer that gets past
the guard carries the same security headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from yarl import URL

_LOGGER = logging.getLogger(__name__)

INGRESS_PROXY = "172.30.32.2"
"""The Supervisor's ingress proxy: the only peer an add-on's ingress port should serve."""
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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback_host(host: str) -> bool:
    """True when only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a LAN address


class AccessGuard:
    """The status page's access rules for one server: its token, bind host and trusted proxies.

    `middleware` goes in front of every route; `origin_ok` is asked before a WebSocket or an
    announcement; `remember` sets the token's cookie on the page."""

    def __init__(
        self,
        host: str,
        port: Callable[[], int],
        *,
        token: str | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self._host = host
        self._port = port
        """The port the server listens on (known only once bound when the URI says 0)."""
        self._token = token.encode() if token else None
        self._trusted = frozenset(trusted_proxies)

    @property
    def has_token(self) -> bool:
        """A token is set (given, or generated and read by the server's prepare())."""
        return self._token is not None

    def set_token(self, token: str) -> None:
        """The generated token, once the server has read or made it."""
        self._token = token.encode()

    @property
    def needs_generated_token(self) -> bool:
        """Reachable from the network with nothing else guarding it."""
        return self._token is None and not self._trusted and not is_loopback_host(self._host)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
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
                text=f"this page answers to localhost only: open http://localhost:{self._port()}/ "
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
        return self._token is None and not self._trusted and is_loopback_host(self._host)

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
        (see origin_ok)."""
        if self.needs_generated_token:
            return None  # not prepared yet: never open by default
        if self._token is None:
            return "open"
        if self._matches(self._explicit_token(request)):
            return "explicit"
        if self._matches(request.cookies.get(self.cookie_name(request))):
            return "cookie"
        return None

    def origin_ok(self, request: web.Request) -> bool:
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

    def remember(self, request: web.Request, response: web.Response) -> None:
        """Opened with the token (in the query): keep it in a cookie, so a reload or bookmark
        of the page without ?token (the page drops it from the address bar) still works.
        HttpOnly: the page's scripts never need to read it; SameSite=Strict: another site's
        links and requests do not carry it. Nothing when no token is set or the query's is
        not it."""
        if self._token is None or not self._matches(request.query.get("token")):
            return
        response.set_cookie(
            self.cookie_name(request),
            self._token.decode(),
            max_age=COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Strict",
        )
