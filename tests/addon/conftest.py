"""Fixtures for the add-on tests: a fake Supervisor, free ports, a Wyoming info peer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe, Info


@dataclass
class Recorded:
    """One request the fake Supervisor received."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeSupervisor:
    """Plays the Supervisor's ``POST /discovery``; answers from ``statuses`` in turn."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        self.requests.append(
            Recorded(request.method, request.path, request.headers.get("Authorization"), body)
        )
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return web.json_response({"result": "error", "message": "busy"}, status=status)
        self.received.set()
        return web.json_response({"result": "ok", "data": {"uuid": "d1sc0"}})


@pytest.fixture
async def supervisor() -> AsyncIterator[FakeSupervisor]:
    """A fake Supervisor on 127.0.0.1 (any method on any path is recorded)."""
    fake = FakeSupervisor()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on (bound once and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


Responder = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def answer_info(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A healthy server: describe → info."""
    event = await async_read_event(reader)
    if event is not None and Describe.is_type(event.type):
        await async_write_event(Info().event(), writer)
    writer.close()


@pytest.fixture
async def wyoming_peer() -> AsyncIterator[Callable[[Responder], Awaitable[int]]]:
    """Start a scripted Wyoming peer on 127.0.0.1; returns its port."""
    servers: list[asyncio.Server] = []

    async def start(responder: Responder) -> int:
        server = await asyncio.start_server(responder, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()
