"""``--allow``: peers outside the allowed ranges get one ``error`` event and nothing else.

The real server is started with ranges that exclude the test's own address (127.0.0.1, ::1),
so the refusal path is the one a stranger on the network meets; the default ranges must
still serve the loopback client the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from server_proc import RunningServer
from wyoming.client import AsyncTcpClient, AsyncUnixClient
from wyoming.error import Error
from wyoming.info import Describe
from wyoming_helpers import ServerProcess, describe, free_port, start_server

from wyoming_rtx.lan import (
    NOT_ALLOWED,
    PRIVATE_NETWORKS,
    RefusalLog,
    allowed,
    parse_networks,
    peer_ip,
)
from wyoming_rtx.settings import DEFAULT_ALLOW

DEFAULT_NETWORKS = parse_networks(DEFAULT_ALLOW)


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("192.168.1.5", 50000), True),
        (("::ffff:192.168.1.5", 50000, 0, 0), True),  # a dual-stack socket's IPv4 client
        (("::ffff:8.8.8.8", 50000, 0, 0), False),  # mapped must not smuggle a public address
        (("172.30.32.1", 40000), True),  # Home Assistant on the Supervisor network
        (("172.32.0.1", 40000), False),  # just outside 172.16.0.0/12
        (("127.0.0.1", 1), True),
        (("::1", 1, 0, 0), True),
        (("fd12:3456::7", 1, 0, 0), True),  # unique local
        (("fe80::1%eth0", 1, 0, 2), True),  # link-local with a zone
        (("2001:db8::1", 1, 0, 0), False),  # global IPv6
        (("8.8.8.8", 53), False),
        (("100.64.0.1", 1), False),  # carrier-grade NAT is not the home's LAN
        ("/run/wyoming.sock", False),  # not an IP: never matched by a range
        (None, False),
    ],
)
def test_default_ranges_match_the_home_lan_only(peer: object, expected: bool) -> None:
    assert allowed(peer, DEFAULT_NETWORKS) is expected


def test_an_ipv4_range_matches_mapped_peers_and_an_ipv6_range_does_not_match_ipv4() -> None:
    lan = parse_networks(["192.168.1.0/24"])
    assert allowed(("::ffff:192.168.1.77", 1, 0, 0), lan)
    assert not allowed(("::ffff:192.168.2.77", 1, 0, 0), lan)
    everyone_v6 = parse_networks(["::/0"])
    assert allowed(("2001:db8::1", 1, 0, 0), everyone_v6)
    assert not allowed(("192.168.1.77", 1), everyone_v6)
    assert str(peer_ip(("::ffff:10.1.2.3", 1, 0, 0))) == "10.1.2.3"


def test_host_bits_in_a_range_are_accepted() -> None:
    assert allowed(("192.168.1.200", 1), parse_networks(["192.168.1.5/24"]))


def test_the_server_and_the_satellite_default_to_the_same_ranges() -> None:
    assert DEFAULT_ALLOW == PRIVATE_NETWORKS


def test_refusals_are_logged_once_per_address_per_period() -> None:
    log = RefusalLog(period=60, max_entries=2)
    assert log.should_log("203.0.113.5", now=0) == 0
    assert log.should_log("203.0.113.5", now=1) is None
    assert log.should_log("203.0.113.5", now=2) is None
    assert log.should_log("198.51.100.7", now=3) == 0  # another address: its own line
    assert log.should_log("203.0.113.5", now=61) == 2  # again, with the count it kept quiet
    log.should_log("192.0.2.1", now=62)  # a third address pushes the oldest out
    assert log.should_log("198.51.100.7", now=63) == 0


async def _refused(host: str, port: int) -> tuple[Error, bool]:
    """Describe as Home Assistant would; returns the error read and whether the link closed."""
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        first = await asyncio.wait_for(client.read_event(), 10)
        assert first is not None and Error.is_type(first.type), first
        after = await asyncio.wait_for(client.read_event(), 10)
    return Error.from_event(first), after is None


async def test_a_peer_outside_allow_gets_one_error_and_no_answer() -> None:
    # Before "Ready" as well: the refusal does not wait for the models.
    server: ServerProcess = await start_server("--allow", "10.0.0.0/8", wait_ready=False)
    try:
        for _ in range(3):
            error, closed = await _refused("127.0.0.1", server.port)
            assert error.code == NOT_ALLOWED
            assert "127.0.0.1" in error.text and "--allow" in error.text
            assert closed, "the connection must end after the error, describe unanswered"
        await server.wait_for_log("Refused 127.0.0.1")
        refusals = [line for line in server.log if "Refused" in line]
        assert len(refusals) == 1, refusals  # three connections, one line
        assert "WARNING" in refusals[0] and "10.0.0.0/8" in refusals[0]
    finally:
        assert await server.stop() == 0, "\n".join(server.log)


async def test_a_silent_refused_peer_is_cut_without_sending_anything() -> None:
    """A peer that sends nothing still reads the error and is closed; the server lives on."""
    server = await start_server("--allow", "10.0.0.0/8", wait_ready=False)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        data = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        writer.close()
        assert b'"type": "error"' in data or b'"type":"error"' in data, data
        assert NOT_ALLOWED.encode() in data
    finally:
        assert await server.stop() == 0, "\n".join(server.log)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_an_ipv6_peer_outside_allow_is_refused_and_inside_is_served() -> None:
    port = free_port()
    uri = f"tcp://[::1]:{port}"
    refusing = await start_server("--uri", uri, "--allow", "127.0.0.0/8", wait_ready=False)
    try:
        error, closed = await _refused("::1", port)
        assert error.code == NOT_ALLOWED and closed
        await refusing.wait_for_log("Refused ::1")
    finally:
        assert await refusing.stop() == 0, "\n".join(refusing.log)
    serving = await start_server("--uri", uri, "--allow", "::1/128", wait_ready=False)
    try:
        async with AsyncTcpClient("::1", port) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 5)
        assert event is not None and event.type == "info"
        assert not any("Refused" in line for line in serving.log)
    finally:
        assert await serving.stop() == 0, "\n".join(serving.log)


async def test_a_unix_socket_is_local_and_always_served(tmp_path) -> None:  # noqa: ANN001
    """--allow is about network peers; a unix socket's peer is a process on this machine."""
    path = tmp_path / "rtx.sock"
    server = await start_server(
        "--uri", f"unix://{path}", "--allow", "10.0.0.0/8", wait_ready=False
    )
    try:
        async with AsyncUnixClient(str(path)) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 5)
        assert event is not None and event.type == "info"
        assert not any("Refused" in line for line in server.log)
    finally:
        assert await server.stop() == 0, "\n".join(server.log)


async def test_default_allow_serves_loopback(server: RunningServer) -> None:
    info, _seconds = await describe(server.port)
    assert info.asr and info.tts
    assert "Refused" not in server.log()
