"""The container health check: describe → info within 1 s, or exit 1."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import pytest
from wyoming.event import async_read_event, async_write_event
from wyoming.info import Info
from wyoming.ping import Pong

from addon.healthcheck import answers_describe, parse_tcp_uri

from .conftest import Responder, answer_info

Peer = Callable[[Responder], Awaitable[int]]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await async_read_event(reader)
    await asyncio.sleep(3)
    writer.close()


async def _late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await async_read_event(reader)
    await asyncio.sleep(1.3)
    await async_write_event(Info().event(), writer)
    writer.close()


async def _other_then_info(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await async_read_event(reader)
    await async_write_event(Pong().event(), writer)
    await async_write_event(Info().event(), writer)
    writer.close()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await async_read_event(reader)
    writer.close()


@pytest.mark.parametrize(
    ("responder", "healthy"),
    [
        (answer_info, True),
        (_other_then_info, True),
        (_silent, False),
        (_late, False),
        (_hang_up, False),
    ],
)
async def test_answers_describe(wyoming_peer: Peer, responder: Responder, healthy: bool) -> None:
    port = await wyoming_peer(responder)
    assert await answers_describe("127.0.0.1", port) is healthy


async def test_nothing_listening(free_port: int) -> None:
    assert await answers_describe("127.0.0.1", free_port) is False


async def _exit_code(*args: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "addon.healthcheck",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_exit_codes_as_docker_runs_it(wyoming_peer: Peer, free_port: int) -> None:
    """0 healthy, 1 unhealthy, 2 for a miswritten command line."""
    healthy = await wyoming_peer(answer_info)
    silent = await wyoming_peer(_silent)
    assert await _exit_code("--uri", f"tcp://127.0.0.1:{healthy}") == 0
    assert await _exit_code("--uri", f"tcp://127.0.0.1:{silent}") == 1
    assert await _exit_code("--uri", f"tcp://127.0.0.1:{free_port}") == 1
    assert await _exit_code("--uri", "http://127.0.0.1:1") == 2


def test_parse_tcp_uri() -> None:
    assert parse_tcp_uri("tcp://127.0.0.1:10900") == ("127.0.0.1", 10900)
    for bad in ("tcp://host", "unix:///tmp/s", "10900"):
        with pytest.raises(ValueError):
            parse_tcp_uri(bad)
