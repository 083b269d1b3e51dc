"""Start and stop each Wyoming server as a subprocess on a free 127.0.0.1 port; watch its memory.

Why subprocesses in their own process groups: the peers run from a separate venv, and every server
must be stopped even when a measurement fails, including any children it spawned. Peak RSS is
sampled from outside (psutil, process plus children) so every server is measured the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.client import describe

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server; ``{port}`` in ``argv`` is replaced by the chosen port."""

    name: str
    """Short label used in the report (e.g. "wyoming-rtx", "wyoming-faster-whisper")."""
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment on top of the benchmark's own."""
    start_timeout: float = 180.0
    """Seconds to wait for the first ``info``; model loading on 2 busy cores can take a while."""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RssSampler:
    """Samples the resident memory of a process tree in a thread and keeps the peak.

    A thread, not a task: the event loop is busy with timed client work, and a sampler on it
    would both miss peaks and add jitter to the measurements.
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> None:
        """Begin sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (bounded wait for the thread)."""
        self._stop.set()
        self._thread.join(timeout=2.0)

    def sample(self) -> int:
        """Current RSS of the process and all its children, in bytes (0 once it is gone)."""
        try:
            proc = psutil.Process(self._pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.sample())
            self._stop.wait(self._interval)


class RunningServer:
    """One started server: its port, log file, RSS sampler; ``stop()`` always ends the group."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = log_dir / f"{spec.name}.log"
        self.info: dict | None = None
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sampler: RssSampler | None = None

    @property
    def host(self) -> str:
        """Always loopback: the benchmark never touches the LAN."""
        return "127.0.0.1"

    @property
    def pid(self) -> int:
        """The server's process id (it must have been started)."""
        if self._proc is None:
            raise RuntimeError(f"{self.spec.name} was not started")
        return self._proc.pid

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def peak_rss_bytes(self) -> int:
        """Highest RSS seen so far (process tree)."""
        return self._sampler.peak_bytes if self._sampler else 0

    async def start(self) -> None:
        """Spawn the server and wait until it answers ``describe`` (or raise with its log tail)."""
        argv = [a.replace("{port}", str(self.port)) for a in self.spec.argv]
        env = {**os.environ, **self.spec.env}
        _LOGGER.info("Starting %s: %s", self.spec.name, " ".join(argv))
        self._proc = _spawn(argv, env, self.log_path)
        self._sampler = RssSampler(self._proc.pid)
        self._sampler.start()
        began = time.perf_counter()
        deadline = began + self.spec.start_timeout
        while time.perf_counter() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            try:
                self.info = await describe(self.host, self.port, timeout=2.0)
            except (OSError, TimeoutError, ConnectionError):
                await asyncio.sleep(0.25)
                continue
            self.start_seconds = time.perf_counter() - began
            _LOGGER.info("%s answered describe after %.1f s", self.spec.name, self.start_seconds)
            return
        raise TimeoutError(
            f"{self.spec.name} gave no info within {self.spec.start_timeout} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 5 s, then any child that outlived it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            children = _children(proc.pid)
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                _LOGGER.warning("%s ignored SIGTERM, killing it", self.spec.name)
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5.0)
            # Only the children recorded above (same pid and start time), never a reused pid.
            for child in children:
                try:
                    if child.is_running():
                        child.kill()
                except psutil.Error:
                    continue
        if self._sampler is not None:
            self._sampler.stop()


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (its own process group), output to ``log_path``.

    Popen returns as soon as the child is forked; nothing here waits on it.
    """
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _children(pid: int) -> list[psutil.Process]:
    """The process tree below ``pid`` right now (empty when it is gone)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group we created (start_new_session makes pgid == pid), while its
    leader is still ours: called only before the leader has been reaped."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
