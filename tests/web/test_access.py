"""Who may use the status page, against the real server process (`python -m wyoming_rtx`).

Bound beyond loopback (0.0.0.0 here, reached through 127.0.0.1 and the LAN address) the page
never serves without a token: one is made up, kept in the data directory and printed once.
Loopback stays open; the add-on's ingress proxy is served without a token; WebSocket origins
are checked; and a page opened over plain http from another machine explains why Talk cannot
use the microphone instead of failing. Models are not waited for: the page works while they
load, and the server is stopped mid-load (it exits at once then).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, WSServerHandshakeError
from wyoming_helpers import REPO, ServerProcess, free_port

from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS
from wyoming_rtx.lan import lan_address

TOKEN_LINE = re.compile(r"WARNING .*Open (http://\S+)\?token=([A-Za-z0-9_-]{20,}) ")


@dataclass
class PageServer:
    """The server process and its status page's port."""

    process: ServerProcess
    http_port: int

    @property
    def log(self) -> str:
        return "\n".join(self.process.log)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.http_port}/"


async def launch(
    data_dir: Path, http_host: str, *args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """Start the server with its page on `http_host` and a free port; don't wait for anything."""
    wyoming_port, http_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if k != "WYOMING_RTX_HTTP_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wyoming_rtx",
        "--uri",
        f"tcp://127.0.0.1:{wyoming_port}",
        "--no-zeroconf",
        "--http-uri",
        f"http://{http_host}:{http_port}",
        "--data-dir",
        str(data_dir),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**environment, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,
    )
    process = ServerProcess(proc=proc, port=http_port)
    process._reader = asyncio.create_task(process._pump())
    return process


async def serve_page(
    data_dir: Path, http_host: str, *args: str, env: dict[str, str] | None = None
) -> PageServer:
    """Start the server and wait until its status page listens."""
    process = await launch(data_dir, http_host, *args, env=env)
    try:
        await process.wait_for_log("Status page", timeout=90)
    except BaseException:
        await process.stop()
        raise
    return PageServer(process, process.port)


async def status_code(url: str, **options: object) -> int:
    async with ClientSession() as session, session.get(url, **options) as response:  # type: ignore[arg-type]
        return response.status


async def ws_status(url: str, **options: object) -> int:
    """101 when the WebSocket opens, else the HTTP status that refused it."""
    async with ClientSession() as session:
        try:
            ws = await session.ws_connect(url, **options)  # type: ignore[arg-type]
        except WSServerHandshakeError as err:
            return err.status
        await ws.close()
        return 101


@pytest.fixture
async def lan_server(tmp_path: Path) -> AsyncIterator[PageServer]:
    """0.0.0.0, no token given, a fresh data directory."""
    server = await serve_page(tmp_path / "data", "0.0.0.0")
    try:
        yield server
    finally:
        await server.process.stop()


async def test_lan_binding_makes_a_token_once_and_keeps_it(
    lan_server: PageServer, tmp_path: Path
) -> None:
    """The first start makes, stores (0600 in a 0700 directory) and prints the token with the
    LAN URL; nothing but /healthz and the static files answers without it; a restart reuses it
    and does not print it again."""
    data_dir = tmp_path / "data"
    token_file = data_dir / "http-token"
    token = token_file.read_text().strip()
    assert len(token) >= 32
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    [(url, printed)] = TOKEN_LINE.findall(lan_server.log)
    assert printed == token
    lan = lan_address()
    expected_host = lan if lan is not None else r"[^:/]+"
    assert re.fullmatch(rf"http://{expected_host}:{lan_server.http_port}/", url), url
    assert str(token_file) in lan_server.log

    page = lan_server.url()
    for path in ("", "api/status", "metrics"):
        assert await status_code(page + path) == 401, path
        assert await status_code(page + path, params={"token": "wrong"}) == 401, path
        assert await status_code(page + path, params={"token": token}) == 200, path
    assert await status_code(page + "healthz") in (200, 503)
    assert await status_code(page + "static/app.js") == 200
    assert await ws_status(page + "api/satellite") == 401

    code = await lan_server.process.stop()
    assert code == 0, lan_server.log
    again = await serve_page(data_dir, "0.0.0.0")
    try:
        assert token_file.read_text().strip() == token
        assert token not in again.log  # printed once, when made
        assert str(token_file) in again.log  # but the log says where it is
        assert f":{again.http_port}/" in again.log
        assert await status_code(again.url() + "api/status", params={"token": token}) == 200
        assert await status_code(again.url() + "api/status") == 401
    finally:
        await again.process.stop()


async def test_cookie_and_headers_carry_the_token(lan_server: PageServer, tmp_path: Path) -> None:
    """Opening the page with ?token sets a cookie that later requests carry; programs may use
    Authorization: Bearer or X-Access-Token instead."""
    token = (tmp_path / "data" / "http-token").read_text().strip()
    page = lan_server.url()
    async with ClientSession() as session:
        async with session.get(page, params={"token": token}) as response:
            assert response.status == 200
            cookie = response.cookies[f"wyoming_rtx_token_{lan_server.http_port}"]
            assert cookie.value == token and cookie["httponly"]
    jar = {"Cookie": f"wyoming_rtx_token_{lan_server.http_port}={token}"}
    assert await status_code(page + "api/status", headers=jar) == 200
    assert await status_code(page, headers=jar) == 200
    assert await status_code(page + "metrics", headers={"Authorization": f"Bearer {token}"}) == 200
    assert await status_code(page + "metrics", headers={"X-Access-Token": token}) == 200
    wrong = {"Cookie": f"wyoming_rtx_token_{lan_server.http_port}=nope"}
    assert await status_code(page + "api/status", headers=wrong) == 401


async def test_websocket_origins_are_checked(lan_server: PageServer, tmp_path: Path) -> None:
    """The page's own origin with its cookie: yes. A program without Origin: only with the
    token in the request. Another site's origin: never, whatever it carries."""
    token = (tmp_path / "data" / "http-token").read_text().strip()
    port = lan_server.http_port
    own = f"http://127.0.0.1:{port}"
    cookie = f"wyoming_rtx_token_{port}={token}"
    for path in ("api/events", "api/satellite"):
        url = lan_server.url() + path
        assert await ws_status(url, headers={"Origin": own, "Cookie": cookie}) == 101, path
        assert await ws_status(url, params={"token": token}) == 101, path
        assert await ws_status(url, headers={"Authorization": f"Bearer {token}"}) == 101, path
        assert await ws_status(url, headers={"Cookie": cookie}) == 403, path
        assert await ws_status(url) == 401, path
        for origin in ("http://evil.example", f"http://localhost:{port}", "null"):
            headers = {"Origin": origin, "Cookie": cookie}
            assert await ws_status(url, params={"token": token}, headers=headers) == 403, origin
    assert "Refused a WebSocket to /api/events" in lan_server.log


async def test_loopback_stays_open_without_a_token(tmp_path: Path) -> None:
    """127.0.0.1: no token made, nothing written; other sites' pages still refused, by Origin
    and (DNS rebinding) by Host."""
    server = await serve_page(tmp_path / "data", "127.0.0.1")
    try:
        assert await status_code(server.url() + "api/status") == 200
        assert await ws_status(server.url() + "api/satellite") == 101  # a local program
        evil = {"Origin": "http://evil.example"}
        assert await ws_status(server.url() + "api/satellite", headers=evil) == 403
        rebound = {"Host": f"attacker.example:{server.http_port}"}  # DNS rebinding
        assert await status_code(server.url() + "api/status", headers=rebound) == 403
        assert await ws_status(server.url() + "api/satellite", headers=rebound) == 403
        assert not (tmp_path / "data").exists()
        assert "access token" not in server.log
    finally:
        await server.process.stop()


async def test_token_from_the_environment_is_used_not_generated(tmp_path: Path) -> None:
    server = await serve_page(
        tmp_path / "data", "0.0.0.0", env={"WYOMING_RTX_HTTP_TOKEN": "from-env-0123456789"}
    )
    try:
        page = server.url() + "api/status"
        assert await status_code(page) == 401
        assert await status_code(page, params={"token": "from-env-0123456789"}) == 200
        assert not (tmp_path / "data").exists()
        assert "from-env-0123456789" not in server.log
    finally:
        await server.process.stop()


async def test_ingress_proxy_needs_no_token(tmp_path: Path) -> None:
    """The add-on: 0.0.0.0 with --http-trusted-proxy. The proxy (here 127.0.0.1) is served
    without a token, under its X-Ingress-Path, with Home Assistant's origin on WebSockets;
    any other peer (the LAN address) is refused; no token is made."""
    server = await serve_page(tmp_path / "data", "0.0.0.0", "--http-trusted-proxy", "127.0.0.1")
    try:
        ingress = {"X-Ingress-Path": "/api/hassio_ingress/AbC123"}
        async with ClientSession() as session, session.get(server.url(), headers=ingress) as page:
            assert page.status == 200
            assert '<base href="/api/hassio_ingress/AbC123/">' in await page.text()
        ha_origin = {"Origin": "http://homeassistant.local:8123", **ingress}
        assert await ws_status(server.url() + "api/events", headers=ha_origin) == 101
        assert not (tmp_path / "data").exists()
        lan = lan_address()
        if lan is not None:
            assert await status_code(server.url(lan)) == 403
    finally:
        await server.process.stop()


async def test_unwritable_data_dir_refuses_to_start(tmp_path: Path) -> None:
    """A data directory that cannot hold the token: a clear error, exit 2, no page."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be\n")
    process = await launch(blocker / "sub", "0.0.0.0")
    code = await asyncio.wait_for(process.proc.wait(), 90)
    await process.stop()
    log = "\n".join(process.log)
    assert code == 2, log
    assert "cannot keep the status page's access token" in log, log
    assert "--data-dir" in log and "--http-token-file" in log
    assert "Traceback" not in log
    assert "Listening on" not in log, "refused before the Wyoming port listens"
    assert await asyncio.to_thread(_refused, process.port)


def _refused(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.browser
async def test_page_over_plain_http_explains_talk(lan_server: PageServer, tmp_path: Path) -> None:
    """Chromium on the LAN address (not a secure context): Talk is disabled with the reason and
    the way out, no JavaScript error; the token leaves the address bar, the cookie carries it
    through a reload. On 127.0.0.1 (secure) the same page offers Talk."""
    from playwright.async_api import async_playwright, expect

    assert shutil.which(CHROMIUM), "apt-get install chromium chromium-driver (script/setup)"
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no LAN address to open the page on")
    token = (tmp_path / "data" / "http-token").read_text().strip()
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
            page.on(
                "console",
                lambda m: errors.append(m.text) if m.type in ("error", "warning") else None,
            )
            await page.goto(f"{lan_server.url(lan)}?token={token}")
            assert await page.evaluate("window.isSecureContext") is False
            await expect(page.locator("#ready")).to_have_text(re.compile("loading|ready"))
            await expect(page.locator("#talk")).to_be_disabled()
            help_text = page.locator("#talk-help")
            await expect(help_text).to_be_visible()
            await expect(help_text).to_contain_text("https")
            await expect(help_text).to_contain_text(f"http://localhost:{lan_server.http_port}/")
            await expect(help_text).to_contain_text("Home Assistant")
            await expect(page.locator("body")).to_have_attribute("data-talk", "insecure")
            assert "token" not in page.url
            await page.click("#talk", force=True)  # a click on the disabled button does nothing

            await page.reload()  # the address without ?token: the cookie carries it
            await expect(page.locator("#ready")).to_have_text(re.compile("loading|ready"))
            await expect(page.locator("#talk-help")).to_be_visible()

            secure = await browser.new_page()
            secure.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
            await secure.goto(f"{lan_server.url()}?token={token}")
            await expect(secure.locator("body")).to_have_attribute("data-talk", "available")
            await expect(secure.locator("#talk")).to_be_enabled()
            await expect(secure.locator("#talk-help")).to_be_hidden()
        finally:
            await browser.close()
    assert errors == []
