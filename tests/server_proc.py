"""Start and stop a real `python -m wyoming_rtx` process from synchronous fixtures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wyoming_helpers import REPO, free_port


@dataclass
class RunningServer:
    """A `python -m wyoming_rtx` process and where its log goes."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def launch(tmp: Path, *args: str) -> RunningServer:
    """Start the server and wait (bounded) until it logs Ready."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wyoming_rtx",
                "--uri",
                f"tcp://127.0.0.1:{port}",
                "--no-zeroconf",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    server = RunningServer(port, proc, log_path)
    deadline = time.monotonic() + 180
    while "Ready" not in server.log():
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        if time.monotonic() > deadline:
            stop(server)
            raise TimeoutError(f"server not ready:\n{server.log()}")
        time.sleep(0.1)
    return server


def stop(server: RunningServer) -> int:
    """SIGTERM, then wait; the exit code tells whether shutdown was clean."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
    return int(server.proc.returncode)


def run_to_exit(site: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the server with `site` first on PYTHONPATH (a package there shadows the installed
    one, as a damaged site-packages would) until it exits by itself; returns its result."""
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "wyoming_rtx",
            "--uri",
            f"tcp://127.0.0.1:{free_port()}",
            "--no-zeroconf",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
