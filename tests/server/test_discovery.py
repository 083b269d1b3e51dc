"""Zeroconf: the server is visible to a browser, on loopback only (nothing leaves the host)."""

from __future__ import annotations

import asyncio

import pytest
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from wyoming_rtx.lan import lan_address, usable_address
from wyoming_rtx.protocol.discovery import SERVICE_TYPE, Discovery


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("0.0.0.0", False),
        ("169.254.3.4", False),
        ("127.0.0.1", False),
        ("192.168.1.20", True),
        ("10.0.0.5", True),
        ("not-an-ip", False),
        ("224.0.0.251", False),
    ],
)
def test_only_real_lan_addresses_are_announced(address: str, ok: bool) -> None:
    assert usable_address(address) is ok


def test_bound_host_wins_when_it_is_real() -> None:
    assert lan_address("192.168.1.20") == "192.168.1.20"
    picked = lan_address("0.0.0.0")
    assert picked is None or usable_address(picked)


async def test_browser_finds_the_server_on_loopback() -> None:
    discovery = Discovery("wyoming-rtx-test", 10955, interfaces=("127.0.0.1",))
    assert await discovery.start(None)
    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    found: asyncio.Queue[str] = asyncio.Queue()

    def on_change(zeroconf, service_type, name, state_change) -> None:  # noqa: ARG001
        if state_change is ServiceStateChange.Added:
            found.put_nowait(name)

    browser = AsyncServiceBrowser(browser_zc.zeroconf, [SERVICE_TYPE], handlers=[on_change])
    try:
        name = await asyncio.wait_for(found.get(), 10)
        assert name == f"wyoming-rtx-test.{SERVICE_TYPE}"
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(browser_zc.zeroconf, 3000)
        assert info.port == 10955
        assert info.parsed_addresses() == ["127.0.0.1"]
    finally:
        await browser.async_cancel()
        await browser_zc.async_close()
        await discovery.stop()
