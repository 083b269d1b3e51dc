"""The start-up glue: start the server, announce it, forward SIGTERM, report exit codes.

The runner's own behaviour is driven with fake_server.py (no models, fast); the real server
is started in test_addon_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from addon.runner import EXIT_OPTIONS, RunnerConfig, exit_code, run

from .conftest import FakeSupervisor

ROOT = Path(__file__).resolve().parents[2]
FAKE_SERVER = Path(__file__).with_name("fake_server.py")
DEFAULTS: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text())["options"]


def _config(tmp_path: Path, supervisor: FakeSupervisor, port: int, **kw: Any) -> RunnerConfig:
    options_path = tmp_path / "options.json"
    if not options_path.exists():
        options_path.write_text(json.dumps(DEFAULTS))
    fields: dict[str, Any] = {
        "options_path": options_path,
        "config_dir": tmp_path,
        "supervisor_url": supervisor.url,
        "supervisor_token": "sup3r",
        "hostname": "local-wyoming-rtx",
        "port": port,
        "server_command": (sys.executable, str(FAKE_SERVER)),
        "ready_poll_interval": 0.05,
        "stop_grace": 2.0,
        "discovery_retry_delay": 0.01,
    }
    fields.update(kw)
    return RunnerConfig(**fields)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_SERVER")}
    env.pop("HA_TOKEN", None)
    return {**env, "FAKE_SERVER_RECORD": str(tmp_path / "record.json"), **extra}


async def _sigterm_after_discovery(supervisor: FakeSupervisor) -> None:
    await asyncio.wait_for(supervisor.received.wait(), 30)
    os.kill(os.getpid(), signal.SIGTERM)  # the runner's handler takes it, as in the container


async def test_starts_announces_and_stops_cleanly(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int
) -> None:
    cfg = _config(tmp_path, supervisor, free_port)
    killer = asyncio.create_task(_sigterm_after_discovery(supervisor))
    code = await asyncio.wait_for(run(cfg, _env(tmp_path)), 60)
    await killer
    assert code == 0
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["argv"][:8] == [
        "--uri",
        f"tcp://0.0.0.0:{free_port}",
        "--no-zeroconf",
        "--http-uri",
        f"http://0.0.0.0:{cfg.ingress_port}",
        "--http-trusted-proxy",
        "172.30.32.2",
        "--language",
    ]
    assert "--ha-url" in record["argv"] and "sup3r" not in record["argv"]
    assert record["has_ha_token"] is True
    [request] = supervisor.requests
    assert (request.method, request.path, request.authorization) == (
        "POST",
        "/discovery",
        "Bearer sup3r",
    )
    assert request.body == {
        "service": "wyoming",
        "config": {"uri": f"tcp://local-wyoming-rtx:{free_port}"},
    }


async def test_server_that_ignores_sigterm_is_killed(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int
) -> None:
    cfg = _config(tmp_path, supervisor, free_port, stop_grace=0.5)
    killer = asyncio.create_task(_sigterm_after_discovery(supervisor))
    code = await asyncio.wait_for(run(cfg, _env(tmp_path, FAKE_SERVER_IGNORE_TERM="1")), 60)
    await killer
    assert code == 128 + signal.SIGKILL


async def test_server_failure_is_the_addon_failure(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int
) -> None:
    """A server that exits by itself ends the add-on with its code (the watchdog sees it),
    and nothing is announced for a server that never answered."""
    cfg = _config(tmp_path, supervisor, free_port)
    code = await asyncio.wait_for(run(cfg, _env(tmp_path, FAKE_SERVER_EXIT="3")), 60)
    assert code == 3
    assert supervisor.requests == []


async def test_bad_options_do_not_start_a_server(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "options.json").write_text(
        json.dumps({**DEFAULTS, "home_source": "file", "home_file": "missing.yaml"})
    )
    cfg = _config(tmp_path, supervisor, free_port)
    assert await run(cfg, _env(tmp_path)) == EXIT_OPTIONS
    assert not (tmp_path / "record.json").exists()
    assert "missing.yaml" in caplog.text


async def test_no_token_no_discovery(
    tmp_path: Path, supervisor: FakeSupervisor, free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside the Supervisor (demo home, no token) the server runs; discovery is skipped."""
    (tmp_path / "options.json").write_text(json.dumps({**DEFAULTS, "home_source": "demo"}))
    cfg = _config(tmp_path, supervisor, free_port, supervisor_token=None)

    async def stop_when_announced() -> None:
        # Polls the log: the "no discovery" line is the only sign this path leaves.
        while "no discovery" not in caplog.text:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = asyncio.create_task(stop_when_announced())
    code = await asyncio.wait_for(run(cfg, _env(tmp_path)), 60)
    await killer
    assert code == 0
    assert supervisor.requests == []


@pytest.mark.parametrize(
    ("returncode", "stopping", "expected"),
    [
        (0, True, 0),
        (-signal.SIGTERM, True, 0),
        (-signal.SIGKILL, True, 137),
        (1, True, 1),
        (2, False, 2),
        (-signal.SIGTERM, False, 143),
        (0, False, 0),
    ],
)
def test_exit_code(returncode: int, stopping: bool, expected: int) -> None:
    assert exit_code(returncode, stopping) == expected
