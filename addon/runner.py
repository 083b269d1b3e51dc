"""Start the server with the add-on's options, announce it once it answers, stop it cleanly.

Plain Python instead of s6 services: there is one long-running process (the server) and one
one-shot step after it is up (discovery), which is a task here rather than a second s6
service with its own readiness loop in bash. The image's init (tini) reaps and forwards
signals to this process; this process forwards SIGTERM to the server and waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wyoming_rtx.settings import DEFAULT_PORT

from .healthcheck import answers_describe
from .options import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_OPTIONS_PATH,
    INGRESS_PORT,
    INGRESS_PROXY,
    AddonContext,
    OptionsError,
    build_server_args,
    load_options,
    redact,
    server_env,
)
from .supervisor import DEFAULT_SUPERVISOR_URL, discovery_uri, register_discovery

_LOGGER = logging.getLogger(__name__)

EXIT_OPTIONS = 1
"""The options cannot start a server (the log says why)."""

DEFAULT_SERVER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "wyoming_rtx")


@dataclass(frozen=True)
class RunnerConfig:
    """Where the add-on's inputs are; every path and URL is overridable for tests."""

    options_path: Path = DEFAULT_OPTIONS_PATH
    config_dir: Path = DEFAULT_CONFIG_DIR
    supervisor_url: str = DEFAULT_SUPERVISOR_URL
    supervisor_token: str | None = field(default=None, repr=False)
    hostname: str = field(default_factory=socket.gethostname)
    port: int = DEFAULT_PORT
    ingress_port: int = INGRESS_PORT
    """config.yaml's ``ingress_port``: where the status page listens for the ingress proxy."""
    ingress_proxy: str = INGRESS_PROXY
    server_command: tuple[str, ...] = DEFAULT_SERVER_COMMAND
    ready_poll_interval: float = 0.5
    stop_grace: float = 15.0
    """Seconds the server gets after SIGTERM before SIGKILL (config.yaml timeout is 20)."""
    discovery_attempts: int = 5
    discovery_retry_delay: float = 2.0


def exit_code(returncode: int, stopping: bool) -> int:
    """The add-on's exit status for the server's return code.

    After our own SIGTERM, the server dying of that signal is a clean stop. Otherwise a
    signal death becomes 128+N, as a shell reports it, so the Supervisor sees a failure.
    """
    if stopping and returncode in (0, -signal.SIGTERM):
        return 0
    if returncode < 0:
        return 128 - returncode
    return returncode


async def announce_when_ready(cfg: RunnerConfig, process: asyncio.subprocess.Process) -> None:
    """Wait until the server answers describe, then register discovery (once)."""
    while process.returncode is None:
        if await answers_describe("127.0.0.1", cfg.port):
            break
        await asyncio.sleep(cfg.ready_poll_interval)
    else:
        return
    _LOGGER.info("Server answers describe on port %s", cfg.port)
    if not cfg.supervisor_token:
        _LOGGER.warning("SUPERVISOR_TOKEN is not set: not under the Supervisor, no discovery")
        return
    await register_discovery(
        cfg.supervisor_url,
        cfg.supervisor_token,
        discovery_uri(cfg.hostname, cfg.port),
        attempts=cfg.discovery_attempts,
        retry_delay=cfg.discovery_retry_delay,
    )


async def _stop(process: asyncio.subprocess.Process, grace: float) -> int:
    """SIGTERM, wait ``grace`` seconds, then SIGKILL; return the server's return code."""
    if process.returncode is None:
        _LOGGER.info("Stopping server")
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            _LOGGER.warning("Server did not stop within %s s; killing it", grace)
            process.kill()
    return await process.wait()


async def run(cfg: RunnerConfig, env: Mapping[str, str] | None = None) -> int:
    """Run the add-on until the server exits or we are told to stop; return the exit code."""
    base_env = dict(os.environ if env is None else env)
    ctx = AddonContext(
        config_dir=cfg.config_dir,
        port=cfg.port,
        supervisor_token=cfg.supervisor_token,
        ingress_port=cfg.ingress_port,
        ingress_proxy=cfg.ingress_proxy,
    )
    try:
        options = load_options(cfg.options_path)
        args = build_server_args(options, ctx)
        child_env = server_env(options, ctx, base_env)
    except OptionsError as err:
        _LOGGER.error("%s", err)
        return EXIT_OPTIONS

    command: Sequence[str] = (*cfg.server_command, *args)
    _LOGGER.info("Starting server: %s", " ".join(redact(list(command))))
    process = await asyncio.create_subprocess_exec(*command, env=child_env)

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    announce = asyncio.create_task(announce_when_ready(cfg, process), name="addon-announce")
    exited = asyncio.create_task(process.wait(), name="addon-server-wait")
    stop = asyncio.create_task(stop_requested.wait(), name="addon-stop-wait")
    try:
        await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
        stopping = stop_requested.is_set()
        if stopping:
            returncode = await _stop(process, cfg.stop_grace)
        else:
            returncode = exited.result()
            _LOGGER.error("Server exited with code %s", returncode)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        for task in (announce, exited, stop):
            task.cancel()
        await asyncio.gather(announce, exited, stop, return_exceptions=True)
        if process.returncode is None:
            # Only reached when cancelled from outside: never leave the server orphaned.
            await _stop(process, cfg.stop_grace)
    code = exit_code(returncode, stopping)
    _LOGGER.info("Add-on stopped (exit code %s)", code)
    return code
