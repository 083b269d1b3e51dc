"""``python -m addon`` end to end: a fake /data/options.json, the REAL server, a fake Supervisor.

This is the add-on as the Supervisor runs it, less Docker: the glue reads the options,
starts ``python -m wyoming_rtx`` with the mapped flags, waits for describe, registers
discovery, and stops the server on SIGTERM. Its status page is the ingress panel: a second
loopback address (127.0.0.2) stands in for the Supervisor's ingress proxy (172.30.32.2), so
the test can be the proxy and, from 127.0.0.1, anyone else.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from .conftest import FakeSupervisor

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text())["options"]
START_TIMEOUT = 180  # imports faster-whisper, piper and the intents on a shared 2-core box


async def _info(port: int) -> Info:
    async with asyncio.timeout(1.0), AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await client.read_event()
            assert event is not None
            if Info.is_type(event.type):
                return Info.from_event(event)


INGRESS_PATH = "/api/hassio_ingress/e2e-ingress-token"
PROXY = "127.0.0.2"
"""Stands in for 172.30.32.2: on Linux all of 127.0.0.0/8 reaches the loopback interface."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _get(port: int, path: str, source: str) -> tuple[int, str]:
    """GET the status page as ``source`` would, with the header ingress adds."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(
            f"http://127.0.0.1:{port}{path}",
            headers={"X-Ingress-Path": INGRESS_PATH},
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response,
    ):
        return response.status, await response.text()


async def _check_ingress(port: int) -> None:
    """The proxy gets the page (based at the ingress path) and /metrics; others get 403."""
    status, page = await _get(port, "/", PROXY)
    assert status == 200, page
    assert f'<base href="{INGRESS_PATH}/">' in page
    status, metrics = await _get(port, "/metrics", PROXY)
    assert status == 200 and "# TYPE" in metrics, metrics[:500]
    for path in ("/", "/metrics", "/api/status"):
        status, _body = await _get(port, path, "127.0.0.1")
        assert status == 403, path


async def _collect(stream: asyncio.StreamReader, lines: list[str], ready: asyncio.Event) -> None:
    """Keep the add-on's log (and drain the pipe so the processes never block on it)."""
    while raw := await stream.readline():
        line = raw.decode(errors="replace")
        lines.append(line)
        if line.rstrip().endswith(": Ready"):
            ready.set()


async def test_addon_runs_the_real_server(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int
) -> None:
    options = tmp_path / "options.json"
    # A narrow allow that leaves out the test's own address: the add-on still serves loopback
    # and the Supervisor's network, so its health check and Home Assistant are never refused.
    options.write_text(json.dumps({**DEFAULTS, "home_source": "demo", "allow": "10.9.9.0/24"}))
    ingress_port = _free_port()
    env = {**os.environ, "SUPERVISOR_TOKEN": "e2e-t0ken"}
    env.pop("HA_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "addon",
        "--options",
        str(options),
        "--config-dir",
        str(tmp_path),
        "--supervisor-url",
        supervisor.url,
        "--hostname",
        "e2e-wyoming-rtx",
        "--port",
        str(free_port),
        "--ingress-port",
        str(ingress_port),
        "--ingress-proxy",
        PROXY,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(process.stdout, lines, ready))
    try:
        try:
            await asyncio.wait_for(supervisor.received.wait(), START_TIMEOUT)
        except TimeoutError:
            raise AssertionError("".join(lines)[-3000:]) from None

        [request] = supervisor.requests
        assert request.path == "/discovery"
        assert request.authorization == "Bearer e2e-t0ken"
        assert request.body == {
            "service": "wyoming",
            "config": {"uri": f"tcp://e2e-wyoming-rtx:{free_port}"},
        }
        info = await _info(free_port)
        assert info.asr and info.tts and info.handle
        assert info.satellite is None

        # Stop a server that has finished loading (the add-on's steady state).
        await asyncio.wait_for(ready.wait(), START_TIMEOUT)
        await _check_ingress(ingress_port)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
        await collector
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        collector.cancel()
    log = "".join(lines)
    assert process.returncode == 0, log[-3000:]
    assert "e2e-t0ken" not in log
    assert "--allow 127.0.0.0/8" in log and "--allow 10.9.9.0/24" in log
    assert f"--http-uri http://0.0.0.0:{ingress_port} --http-trusted-proxy {PROXY}" in log
    # Only the status page's refusals of the non-proxy requests; no Wyoming peer was refused.
    refused = [line for line in log.splitlines() if "Refused" in line]
    assert refused and all("(not the ingress proxy)" in line for line in refused), refused
    # The server went down with the add-on: nothing answers on its port any more.
    try:
        await _info(free_port)
    except OSError:
        pass
    else:
        raise AssertionError("server still answers after the add-on stopped")
