"""Announce the server as `_wyoming._tcp.local.` so Home Assistant discovers it.

HA drops announcements for 0.0.0.0 and link-local addresses, so we announce the
address the host would really use on the LAN, as picked by ``wyoming_rtx.lan`` (shared
with the satellite's announcer). The zeroconf object lives as long as the server and is
unregistered and closed on shutdown (the `wyoming` helper keeps none to close).
"""

from __future__ import annotations

import logging
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from ..lan import lan_address, usable_address

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."


class Discovery:
    """Owns the zeroconf registration for the life of the server."""

    def __init__(self, name: str, port: int, interfaces: tuple[str, ...] = ()) -> None:
        self.name = name
        self.port = port
        self.interfaces = interfaces
        self.address: str | None = None
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def start(self, bound_host: str | None) -> bool:
        """Register the service; False (with a log line saying why) when impossible."""
        if self.interfaces:
            # Tests pass loopback here so nothing is multicast on the real network.
            address = self.interfaces[0]
            allowed = usable_address(address, allow_loopback=True)
            self.address = address if allowed else None
        else:
            self.address = lan_address(bound_host)
        if self.address is None:
            _LOGGER.warning(
                "Zeroconf disabled: no LAN address to announce (add the server in Home "
                "Assistant by host and port instead)"
            )
            return False
        self._zeroconf = (
            AsyncZeroconf(interfaces=list(self.interfaces), ip_version=IPVersion.V4Only)
            if self.interfaces
            else AsyncZeroconf(ip_version=IPVersion.V4Only)
        )
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{self.name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(self.address)],
            port=self.port,
            server=f"{self.name}.local.",
        )
        await self._zeroconf.async_register_service(self._info)
        _LOGGER.info(
            "Announced %s as %s on %s:%s", SERVICE_TYPE, self.name, self.address, self.port
        )
        return True

    async def stop(self) -> None:
        """Unregister and close (safe to call when start failed or never ran)."""
        if self._zeroconf is None:
            return
        try:
            await self._zeroconf.async_unregister_all_services()
        finally:
            await self._zeroconf.async_close()
            self._zeroconf = None


def default_service_name() -> str:
    """wyoming-rtx-<hostname>, in the characters mDNS instance names accept."""
    host = socket.gethostname().split(".")[0] or "host"
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in host)
    return f"wyoming-rtx-{safe}"
