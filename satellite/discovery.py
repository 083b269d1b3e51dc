"""Zeroconf for both modes: find a wyoming-rtx server (direct) or announce this satellite (HA).

Zeroconf is created through a factory so that tests run it on loopback only
(``interfaces=["127.0.0.1"]``) and never multicast on the real network.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from wyoming_rtx.lan import lan_address

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


def make_zeroconf(interfaces: Sequence[str] | None) -> AsyncZeroconf:
    """All interfaces in production; exactly the given ones (loopback) in tests."""
    chosen: list[str] | InterfaceChoice = list(interfaces) if interfaces else InterfaceChoice.All
    return AsyncZeroconf(interfaces=chosen, ip_version=IPVersion.V4Only)


def is_pipeline_server(info: Info) -> bool:
    """A wyoming-rtx server: it transcribes, handles and speaks, and is not a satellite."""
    return bool(info.asr and info.tts and info.handle) and info.satellite is None


async def probe(uri: str, timeout: float = 1.0) -> Info | None:
    """``describe`` a Wyoming service; None if it does not answer in time."""
    try:
        async with asyncio.timeout(timeout):
            client = AsyncTcpClient.from_uri(uri)
            await client.connect()
            try:
                await client.write_event(Describe().event())
                while (event := await client.read_event()) is not None:
                    if Info.is_type(event.type):
                        return Info.from_event(event)
            finally:
                await client.disconnect()
    except (TimeoutError, OSError) as err:
        _LOGGER.debug("No info from %s: %r", uri, err)
    return None


class ServerFinder:
    """Browses ``_wyoming._tcp.local.`` and returns the first pipeline server that answers."""

    def __init__(
        self, interfaces: Sequence[str] | None, seconds: float = 3.0, instance: str | None = None
    ) -> None:
        self.interfaces = interfaces
        self.seconds = seconds
        self.instance = instance
        """Only accept this instance name (several servers on one network, or tests)."""

    async def __call__(self) -> str | None:
        azc = make_zeroconf(self.interfaces)
        found: asyncio.Queue[str] = asyncio.Queue()

        def on_change(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            wanted = self.instance is None or name == f"{self.instance}.{SERVICE_TYPE}"
            if state_change is ServiceStateChange.Added and wanted:
                found.put_nowait(name)

        browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        try:
            async with asyncio.timeout(self.seconds):
                while True:
                    name = await found.get()
                    uri = await self._resolve(azc, name)
                    if uri is None:
                        continue
                    info = await probe(uri)
                    if info is not None and is_pipeline_server(info):
                        _LOGGER.info("Found server %s at %s", name, uri)
                        return uri
        except TimeoutError:
            return None
        finally:
            await browser.async_cancel()
            await azc.async_close()

    @staticmethod
    async def _resolve(azc: AsyncZeroconf, name: str) -> str | None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(azc.zeroconf, 1500):
            return None
        addresses = info.parsed_addresses(IPVersion.V4Only)
        if not addresses or info.port is None:
            return None
        return f"tcp://{addresses[0]}:{info.port}"


class Announcer:
    """Announces this satellite to Home Assistant; keeps zeroconf alive while running.

    The address is ``host`` when given, else the LAN address ``wyoming_rtx.lan`` picks (the
    server's announcer uses the same picker); with none usable nothing is announced, since
    Home Assistant would drop the announcement anyway.
    """

    def __init__(
        self,
        name: str,
        port: int,
        host: str | None = None,
        interfaces: Sequence[str] | None = None,
        bound_host: str | None = None,
    ) -> None:
        """bound_host: the address the Wyoming server listens on, announced when it is real."""
        self.host = host or lan_address(bound_host)
        self.interfaces = interfaces
        instance = name.replace(".", "_")
        self.info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(self.host)] if self.host else [],
            port=port,
            server=f"{socket.gethostname().split('.')[0] or 'satellite'}.local.",
        )
        self._azc: AsyncZeroconf | None = None

    async def start(self) -> None:
        if self.host is None:
            _LOGGER.warning(
                "Zeroconf disabled: no LAN address to announce (add the satellite in Home "
                "Assistant by host and port instead)"
            )
            return
        self._azc = make_zeroconf(self.interfaces)
        await self._azc.async_register_service(self.info)
        _LOGGER.info("Announced %s on %s:%s", self.info.name, self.host, self.info.port)

    async def stop(self) -> None:
        azc, self._azc = self._azc, None
        if azc is not None:
            await azc.async_unregister_service(self.info)
            await azc.async_close()
