"""Measuring the real server process from outside: CPU, memory, threads, fds, sockets.

The reliability claims (work stops when a client leaves, nothing leaks, memory stays
bounded) are about the server *process*, so they are checked with psutil against its
pid rather than by asking the server about itself.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psutil

T = TypeVar("T")
MB = 1024 * 1024
LONG_TEXT = " ".join(f"Fox number {n} jumps over the lazy dog." for n in range(1, 1000))[:20_000]
"""Exactly the default --max-text-chars: minutes of speech, seconds of CPU per sentence pair.
Every sentence differs, so the server's cache of rendered sentences cannot answer it."""
SHORT_TEXT = "Turn on the kitchen light."


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU time of every thread of the process so far."""
    times = proc.cpu_times()
    return float(times.user + times.system)


async def cpu_over(proc: psutil.Process, window: float) -> float:
    """Average CPU use (1.0 = one core busy) over the next `window` seconds."""
    before = cpu_seconds(proc)
    await asyncio.sleep(window)
    return (cpu_seconds(proc) - before) / window


async def wait_idle(
    proc: psutil.Process, threshold: float = 0.1, window: float = 0.5, timeout: float = 20.0
) -> float:
    """Wait until the process uses under `threshold` of a core; returns the last reading.

    Used to settle before a baseline, never as the assertion itself (it would hide a
    slow stop); raises when the server stays busy, which is itself a failure."""
    deadline = time.monotonic() + timeout
    while True:
        usage = await cpu_over(proc, window)
        if usage < threshold:
            return usage
        if time.monotonic() > deadline:
            raise AssertionError(f"server still busy ({usage:.0%} CPU) after {timeout:.0f} s")


def open_peers(proc: psutil.Process) -> set[int]:
    """Client ports of the server's TCP connections that are not yet closed."""
    return {
        conn.raddr.port
        for conn in proc.net_connections(kind="tcp")
        if conn.raddr and conn.status != psutil.CONN_LISTEN
    }


@dataclass
class RssSampler:
    """Samples RSS in a thread every few ms, so a short spike is not missed between awaits."""

    proc: psutil.Process
    interval: float = 0.02
    before: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.before = self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / MB


def describe_once(port: int, timeout: float = 1.0) -> float:
    """One describe on a fresh blocking socket, as HA's probe does; seconds until the info.

    Blocking sockets in a thread, not the test's event loop: the test process is busy
    driving the load, and its own loop lag must not be charged to the server."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(max(0.01, timeout - (time.monotonic() - started)))
        sock.sendall(b'{"type": "describe"}\n')
        received = b""
        while b"\n" not in received:
            sock.settimeout(max(0.01, timeout - (time.monotonic() - started)))
            piece = sock.recv(65536)
            if not piece:
                raise ConnectionError("closed before answering describe")
            received += piece
    header = json.loads(received.split(b"\n", 1)[0])
    if header.get("type") != "info":
        raise AssertionError(f"expected info, got {header.get('type')}")
    return time.monotonic() - started


@dataclass
class DescribeProbe:
    """Home Assistant's one-second describe, repeated on fresh connections while load runs.

    The probe runs in a child process of its own: a thread in the test process would
    wait for the test's GIL while the test drives 50 clients, and that wait would be
    charged to the server (a CI run once failed on exactly that)."""

    port: int
    period: float = 0.2
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def run_while(self, busy: Callable[[], bool], poll: float = 0.05) -> None:
        """Probe until `busy()` turns false (checked on the loop every `poll` s)."""
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            str(self.port),
            str(self.period),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin and child.stdout
        collector = asyncio.create_task(self._collect(child.stdout))
        try:
            while busy():  # noqa: ASYNC110 - busy() polls the OS, nothing to await
                await asyncio.sleep(poll)
        finally:
            # Closing its stdin tells the child to finish the probe under way and exit.
            child.stdin.close()
            await asyncio.wait_for(child.wait(), 30)
            await collector

    async def _collect(self, lines: asyncio.StreamReader) -> None:
        """The child's lines, as they come: `ok SECONDS` or `fail REASON`."""
        async for raw in lines:
            kind, _, value = raw.decode().strip().partition(" ")
            if kind == "ok":
                self.latencies.append(float(value))
            elif kind == "fail":
                self.failures.append(value)

    async def around(self, work: Awaitable[T]) -> T:
        """Run `work` with the probe beside it; returns the work's result."""
        done = False
        probe = asyncio.create_task(self.run_while(lambda: not done))
        try:
            return await work
        finally:
            done = True
            await probe

    def check(self, min_probes: int = 3) -> None:
        """Every probe answered, each in under a second, and enough of them to mean it."""
        slow = [f"{s:.2f}" for s in self.latencies if s >= 1.0]
        assert not self.failures, f"describe failed or took over 1 s: {self.failures}"
        assert not slow, f"describe over 1 s: {slow}"
        assert len(self.latencies) >= min_probes, f"only {len(self.latencies)} probes ran"


def _probe_forever(port: int, period: float) -> None:
    """The child's loop: one describe, one line on stdout, until stdin closes."""
    while True:
        try:
            print(f"ok {describe_once(port):.6f}", flush=True)
        except (OSError, AssertionError, ValueError) as err:
            print(f"fail {err!r}", flush=True)
        ready, _, _ = select.select([sys.stdin], [], [], period)
        if ready and not sys.stdin.read(1):
            return


if __name__ == "__main__":
    _probe_forever(int(sys.argv[1]), float(sys.argv[2]))
