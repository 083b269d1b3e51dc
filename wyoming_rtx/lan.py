"""This host's LAN address, for zeroconf announcements by the server and the satellite.

Home Assistant drops announcements for 0.0.0.0 and link-local addresses, so both announce the
address the host would really use on the LAN: the bound host when it is a real address, else
the source address the kernel picks for the mDNS group, else the first real interface address.

Standard library only at import: the satellite imports this and must stay light. The last
resort lists interfaces with ``ifaddr``, imported when needed; it comes with ``zeroconf``,
which every caller of this module already uses to announce.
"""

from __future__ import annotations

import ipaddress
import socket

_MDNS_GROUP = "224.0.0.251"


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
