"""The listening part both fakes share: an aiohttp app on 127.0.0.1 that can go down and
come back on the same port, as Home Assistant or Ollama do when they restart."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class RestartableSite:
    """Serves one app on a free port, kept across go_down/come_up."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_app(self) -> web.Application:
        """The routes; each fake defines its own."""
        raise NotImplementedError

    async def start(self) -> None:
        """Bind a free port (kept across go_down/come_up)."""
        self._runner = web.AppRunner(self.make_app(), handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await self.come_up()

    async def come_up(self) -> None:
        """Listen (again) on the same port once one was chosen."""
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        if not self.port:
            server = self._site._server  # noqa: SLF001 - aiohttp has no public accessor
            assert server is not None and server.sockets
            self.port = server.sockets[0].getsockname()[1]

    async def go_down(self) -> None:
        """Stop listening: clients get connection refused."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def stop(self) -> None:
        """Shut down."""
        await self.go_down()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
