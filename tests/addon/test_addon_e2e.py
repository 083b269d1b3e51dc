"""``python -m addon`` end to end: a fake /data/options.json, the REAL server, a fake Supervisor.

This is the add-on as the Supervisor runs it, less Docker: the glue reads the options,
starts ``python -m wyoming_rtx`` with the mapped flags, waits for describe, registers
discovery, and stops the server on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

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
    assert "Refused" not in log
    # The server went down with the add-on: nothing answers on its port any more.
    try:
        await _info(free_port)
    except OSError:
        pass
    else:
        raise AssertionError("server still answers after the add-on stopped")
