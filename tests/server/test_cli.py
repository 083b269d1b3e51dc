"""The command line: clear start-up errors, stdio transport, clean SIGTERM."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from wyoming.event import Event, async_read_event, async_write_event
from wyoming_helpers import REPO

from wyoming_rtx.app import App
from wyoming_rtx.cli import build_parser, settings_from_args
from wyoming_rtx.memory import HELD_RECLAIM_SLACK_BYTES, RECLAIM_SLACK_BYTES


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wyoming_rtx", "--no-zeroconf", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_missing_model_folder_is_a_clear_error(tmp_path) -> None:
    result = _run("--asr-model", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "Cannot start" in result.stderr and "nowhere" in result.stderr
    assert "--asr-model" in result.stderr  # the message says which option to fix
    assert "Traceback" not in result.stderr and "Listening on" not in result.stderr


def test_unknown_model_name_without_hub_is_a_clear_error() -> None:
    result = _run("--asr-model", "large-v3")
    assert result.returncode == 2
    assert "large-v3" in result.stderr and "Traceback" not in result.stderr


def test_missing_voice_is_a_clear_error() -> None:
    result = _run("--voice", "de_DE-nobody-low")
    assert result.returncode == 2
    assert "de_DE-nobody-low" in result.stderr and "Traceback" not in result.stderr
    # A usage error naming the option, found before the port is bound.
    assert "wyoming-rtx: error: --voice de_DE-nobody-low: " in result.stderr
    assert "Listening on" not in result.stderr


def test_bad_uri_is_a_usage_error() -> None:
    result = _run("--uri", "http://0.0.0.0:1")
    assert (
        result.returncode == 2 and "wyoming-rtx: error: --uri http://0.0.0.0:1: " in result.stderr
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip()


async def test_stdio_describe_then_clean_exit() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wyoming_rtx",
        "--uri",
        "stdio://",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None
    await async_write_event(Event(type="describe"), proc.stdin)
    event = await asyncio.wait_for(async_read_event(proc.stdout), 5)
    assert event is not None and event.type == "info"
    proc.stdin.close()
    _out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()


def test_memory_flags_map_to_settings() -> None:
    parser = build_parser()
    server, *_ = settings_from_args(parser.parse_args([]), parser)
    assert (server.hold_memory, server.reclaim_memory) == (True, True)
    args = parser.parse_args(["--release-memory", "--no-memory-reclaim"])
    server, *_ = settings_from_args(args, parser)
    assert (server.hold_memory, server.reclaim_memory) == (False, False)


def test_holding_memory_widens_the_reclaimer_slack() -> None:
    # A trim would give back what holding keeps on purpose (~100 MB per decoder).
    parser = build_parser()
    held = App(*settings_from_args(parser.parse_args([]), parser))
    released = App(*settings_from_args(parser.parse_args(["--release-memory"]), parser))
    assert released.reclaimer.slack == RECLAIM_SLACK_BYTES
    assert held.reclaimer.slack == HELD_RECLAIM_SLACK_BYTES > 2 * RECLAIM_SLACK_BYTES
