"""This host's LAN address for zeroconf announcements, and who on the LAN may connect.

Both the server and the satellite use this module, so it holds what they share about the
network: the address to announce, and the one test of a peer against allowed ranges.

Home Assistant drops announcements for 0.0.0.0 and link-local addresses, so both announce the
address the host would really use on the LAN: the bound host when it is a real address, else
the source address the kernel picks for the mDNS group, else the first real interface address.

Standard library and the ``wyoming`` package only at import: the satellite imports this and
must stay light. The last
resort lists interfaces with ``ifaddr``, imported when needed; it comes with ``zeroconf``,
which every caller of this module already uses to announce.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable

from wyoming.error import Error
from wyoming.event import async_write_event

_MDNS_GROUP = "224.0.0.251"

NOT_ALLOWED = "not-allowed"
"""The ``error`` code a peer outside the allowed ranges reads before it is closed."""

REFUSAL_LOG_SECONDS = 600.0
"""A refused address is logged again only after this long (with how often it came meanwhile)."""

REFUSAL_WRITE_SECONDS = 2.0
"""How long a refusal's ``error`` event may take to leave; a peer that never reads is cut."""

_REFUSAL_LOG_ENTRIES = 1024
"""Addresses remembered for rate limiting; the oldest is forgotten (and may be logged again)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)
"""Loopback, the private ranges (RFC 1918, IPv6 unique local) and link-local: a home's LAN,
never the internet. The satellite's ``--ha-allow`` default and the server's ``--allow`` default
(``settings.DEFAULT_ALLOW``)."""


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings as networks (host bits allowed: ``192.168.1.5/24``); ValueError if unusable."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def peer_ip(peer: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of a ``peername`` (``(host, port)`` or ``(host, port, flow, scope)``), or None.

    An IPv4-mapped IPv6 address (``::ffff:192.168.1.5``, what a dual-stack ``::`` socket
    reports for an IPv4 client) becomes the IPv4 address, so IPv4 ranges match it; a zone
    (``fe80::1%eth0``) is dropped, since ranges carry none.
    """
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    if not isinstance(host, str):
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def allowed(peer: object, networks: Iterable[Network]) -> bool:
    """Whether a TCP peer lies in one of ``networks``; an unparsable peer is refused.

    The one test both the server's ``--allow`` and the satellite's ``--ha-allow`` use.
    """
    ip = peer_ip(peer)
    if ip is None:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def usable_address(address: str, allow_loopback: bool = False) -> bool:
    """Reject what HA would drop: unspecified, link-local, and loopback unless asked."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version != 4 or ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return False
    return allow_loopback or not ip.is_loopback


def _route_address() -> str | None:
    """The source address for multicast (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((_MDNS_GROUP, 5353))
            return str(sock.getsockname()[0])
        except OSError:
            return None


def _interface_addresses() -> list[str]:
    import ifaddr

    return [
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str)
    ]


def lan_address(bound_host: str | None = None) -> str | None:
    """The address to announce, or None when the host has no usable one."""
    if bound_host and usable_address(bound_host):
        return bound_host
    route = _route_address()
    if route and usable_address(route):
        return route
    for address in _interface_addresses():
        if usable_address(address):
            return address
    return None


async def refuse(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    text: str,
    code: str,
    seconds: float = REFUSAL_WRITE_SECONDS,
) -> None:
    """Send one ``error`` event, then close; what the peer sent is discarded, never parsed."""
    try:
        await asyncio.wait_for(
            async_write_event(Error(text=text, code=code).event(), writer), seconds
        )
        if writer.can_write_eof():
            writer.write_eof()
        await _discard_until_eof(reader, seconds)
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


async def _discard_until_eof(reader: asyncio.StreamReader, seconds: float) -> None:
    """Drop what the refused peer sent (never parsed) until it closes, for at most `seconds`.

    Closing a socket with unread input makes the kernel answer with a reset, which can
    destroy the `error` event in the peer's receive buffer before the peer reads it; after
    our FIN the peer closes too, and its bytes are thrown away unread.
    """
    async with asyncio.timeout(seconds):
        while await reader.read(65536):
            pass


class RefusalLog:
    """Decides which refusals are logged: the first from an address, then one per period."""

    def __init__(
        self, period: float = REFUSAL_LOG_SECONDS, max_entries: int = _REFUSAL_LOG_ENTRIES
    ) -> None:
        self.period = period
        self.max_entries = max_entries
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        """address → (when it was last logged, refusals not logged since)."""

    def should_log(self, host: str, now: float | None = None) -> int | None:
        """None: stay quiet; else log, saying how many refusals went unlogged before this one."""
        now = time.monotonic() if now is None else now
        last = self._seen.get(host)
        if last is not None and now - last[0] < self.period:
            self._seen[host] = (last[0], last[1] + 1)
            return None
        self._seen[host] = (now, 0)
        self._seen.move_to_end(host)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return last[1] if last is not None else 0
