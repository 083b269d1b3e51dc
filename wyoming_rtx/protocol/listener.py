"""Accept Wyoming connections on tcp://, unix:// or stdio:// and track each one.

The `wyoming` library's servers build readers with asyncio's default 64 KiB buffer and
its unbounded frame reader; ours pass the frame limits through so a header longer
than allowed is refused before it is buffered, and every connection task is kept so
shutdown can cancel them.

A TCP peer outside ``--allow`` is refused before its connection exists: it gets one ``error``
event (code ``not-allowed``) and the socket is closed, so nothing it sends is ever read. One
WARNING per refused address per ten minutes (``lan.RefusalLog``): a host that retries in a loop (a
satellite pointed at the wrong server reconnects with backoff) must not flood the log.
unix:// and stdio:// peers are local processes and always served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlparse

from wyoming.event import async_get_stdin

from ..lan import NOT_ALLOWED, RefusalLog, allowed, parse_networks, peer_ip, refuse
from .connection import Connection
from .framing import FrameLimits

_LOGGER = logging.getLogger(__name__)

ConnectionFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Connection]


def parse_uri(uri: str) -> tuple[str, str | None, int | None]:
    """Split a server URI into (scheme, host-or-path, port); ValueError when unusable.

    The message starts with the URI and reads as a sentence, so the command line can put the
    option's name in front of it ("--uri tcp://host:x: the port must be a number ...")."""
    example = "e.g. tcp://0.0.0.0:10900"
    result = urlparse(uri)
    if result.scheme == "tcp":
        try:
            port = result.port
        except ValueError:  # urllib: "Port could not be cast to integer value", out of range
            raise ValueError(
                f"{uri}: the port must be a number from 0 to 65535, {example}"
            ) from None
        if result.hostname is None or port is None:
            raise ValueError(f"{uri}: a tcp:// address needs a host and a port, {example}")
        return "tcp", result.hostname, port
    if result.scheme == "unix":
        if not result.path:
            raise ValueError(
                f"{uri}: a unix:// address needs a socket path, e.g. unix:///run/wyoming-rtx.sock"
            )
        return "unix", result.path, None
    if result.scheme == "stdio":
        return "stdio", None, None
    raise ValueError(f"{uri}: only tcp://, unix:// and stdio:// addresses are served, {example}")


class Listener:
    """Owns the listening socket and every live connection."""

    def __init__(
        self,
        uri: str,
        factory: ConnectionFactory,
        limits: FrameLimits,
        allow: Iterable[str] = (),
    ) -> None:
        """allow: CIDR ranges whose TCP peers are served (ServerSettings.allow)."""
        self.scheme, self.host, self.port = parse_uri(uri)
        self.allow = tuple(allow)
        self._networks = parse_networks(self.allow)
        self._refusals = RefusalLog()
        self._refusing: set[asyncio.Task[None]] = set()
        self._factory = factory
        self._limits = limits
        self._server: asyncio.AbstractServer | None = None
        self.connections: dict[asyncio.Task[None], Connection] = {}
        self._stdio_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the socket (or attach to stdio); raises OSError when the port is taken."""
        buffer_limit = self._limits.max_header_bytes
        if self.scheme == "tcp":
            self._server = await asyncio.start_server(
                self._accept, host=self.host, port=self.port, limit=buffer_limit
            )
            if self.port == 0:
                self.port = self._server.sockets[0].getsockname()[1]
        elif self.scheme == "unix":
            assert self.host is not None
            await asyncio.to_thread(Path(self.host).unlink, missing_ok=True)
            self._server = await asyncio.start_unix_server(
                self._accept, path=self.host, limit=buffer_limit
            )
        else:
            reader = await async_get_stdin()
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.connect_write_pipe(
                lambda: asyncio.streams.FlowControlMixin(loop=loop),
                os.fdopen(sys.stdout.fileno(), "wb"),
            )
            writer = asyncio.StreamWriter(transport, protocol, None, loop)
            self._stdio_task = self._track(self._factory(reader, writer))

    async def wait_closed(self) -> None:
        """Block while serving (for stdio: until stdin ends)."""
        if self._stdio_task is not None:
            await self._stdio_task
            return
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        """Stop accepting, then close every connection (cancelling its work)."""
        if self._server is not None:
            self._server.close()
        connections = list(self.connections.values())
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
        tasks = [*self.connections, *self._refusing]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.scheme == "tcp":
            peer = writer.get_extra_info("peername")
            if not allowed(peer, self._networks):
                task = asyncio.create_task(self._refuse(peer, reader, writer), name="refusal")
                self._refusing.add(task)
                task.add_done_callback(self._refusing.discard)
                return
        self._track(self._factory(reader, writer))

    async def _refuse(
        self, peer: object, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One `error` event, then close; the peer's bytes are never read or dispatched."""
        ip = peer_ip(peer)
        host = str(ip) if ip is not None else str(peer)
        repeats = self._refusals.should_log(host)
        if repeats is not None:
            again = f" ({repeats} more since the last report)" if repeats else ""
            _LOGGER.warning(
                "Refused %s: not in --allow %s%s", host, " ".join(self.allow) or "(empty)", again
            )
        text = (
            f"{host} may not use this Wyoming server: the server's --allow "
            "(the add-on's allow option) does not include it"
        )
        await refuse(reader, writer, text, NOT_ALLOWED)

    def _track(self, connection: Connection) -> asyncio.Task[None]:
        task = asyncio.create_task(connection.run(), name=f"connection {connection.peer}")
        self.connections[task] = connection
        task.add_done_callback(lambda t: self.connections.pop(t, None))
        return task
