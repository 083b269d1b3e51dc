"""Zeroconf on loopback only (never the real network): find the server, announce to HA."""

from __future__ import annotations

import asyncio

import pytest
from wyoming.event import async_read_event, async_write_event
from wyoming.info import AsrProgram, Attribution, HandleProgram, Info, TtsProgram
from zeroconf.asyncio import AsyncServiceInfo

import satellite.discovery
from satellite.discovery import (
    SERVICE_TYPE,
    Announcer,
    ServerFinder,
    is_pipeline_server,
    make_zeroconf,
)

LOOPBACK = ("127.0.0.1",)
_ATTR = Attribution(name="test", url="")


def _pipeline_info() -> Info:
    common = {"attribution": _ATTR, "installed": True, "description": None, "version": "1"}
    return Info(
        asr=[AsrProgram(name="asr", models=[], **common)],
        tts=[TtsProgram(name="tts", voices=[], **common)],
        handle=[HandleProgram(name="handle", models=[], **common)],
    )


async def _describe_server(info: Info) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (event := await async_read_event(reader)) is not None:
            if event.type == "describe":
                await async_write_event(info.event(), writer)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_only_a_pipeline_server_qualifies() -> None:
    assert is_pipeline_server(_pipeline_info())
    assert not is_pipeline_server(Info())


async def test_finder_picks_the_pipeline_server_and_announcer_is_resolvable() -> None:
    other = await _describe_server(Info())  # e.g. another satellite or a wake service
    server = await _describe_server(_pipeline_info())
    other_port = other.sockets[0].getsockname()[1]
    server_port = server.sockets[0].getsockname()[1]
    # Unique names: other test runs on this machine may announce on loopback too.
    suffix = f"{server_port}"
    announcers = [
        Announcer(f"sat-test-{suffix}", other_port, host="127.0.0.1", interfaces=LOOPBACK),
        Announcer(f"rtx-test-{suffix}", server_port, host="127.0.0.1", interfaces=LOOPBACK),
    ]
    try:
        await asyncio.gather(*(a.start() for a in announcers))
        uri = await ServerFinder(LOOPBACK, seconds=5.0, instance=f"rtx-test-{suffix}")()
        assert uri == f"tcp://127.0.0.1:{server_port}"
        # The non-pipeline service is found by name but rejected after its describe.
        assert await ServerFinder(LOOPBACK, seconds=2.0, instance=f"sat-test-{suffix}")() is None

        # What Home Assistant's zeroconf flow would resolve for a satellite announcement.
        azc = make_zeroconf(LOOPBACK)
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, f"rtx-test-{suffix}.{SERVICE_TYPE}")
            assert await info.async_request(azc.zeroconf, 3000)
            assert (info.parsed_addresses(), info.port) == (["127.0.0.1"], server_port)
        finally:
            await azc.async_close()
    finally:
        await asyncio.gather(*(a.stop() for a in announcers))
        other.close()
        server.close()


async def test_nothing_found_returns_none() -> None:
    assert await ServerFinder(LOOPBACK, seconds=0.3, instance="no-such-server")() is None


def test_the_announcer_picks_its_address_with_the_servers_picker() -> None:
    """A real bound address is announced as is; 0.0.0.0 never is (HA would drop it)."""
    assert Announcer("sat-test", 10700, bound_host="192.168.1.20").host == "192.168.1.20"
    assert Announcer("sat-test", 10700, bound_host="0.0.0.0").host != "0.0.0.0"


async def test_no_lan_address_announces_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(satellite.discovery, "lan_address", lambda bound_host=None: None)
    announcer = Announcer("sat-test-none", 10700, interfaces=LOOPBACK)
    await announcer.start()
    assert "no LAN address" in caplog.text
    await announcer.stop()  # nothing to unregister
