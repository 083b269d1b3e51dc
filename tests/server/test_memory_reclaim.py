"""HeapReclaimer: when it trims (idle, well past the settled level) and when it must not
(busy, small growth), and that glibc's trim really hands fragmented free pages back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from wyoming_rtx.memory import HeapReclaimer

MB = 2**20


class FakeProcess:
    """Resident memory and CPU time the test sets; a trim drops memory to `after_trim`."""

    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.cpu = 0.0
        self.after_trim = rss
        self.trim_calls = 0
        self.trim_works = True

    def measure(self) -> int:
        return self.rss

    def cpu_seconds(self) -> float:
        return self.cpu

    def trim(self) -> bool:
        self.trim_calls += 1
        if self.trim_works:
            self.rss = self.after_trim
        return self.trim_works


async def _started(fake: FakeProcess) -> HeapReclaimer:
    """A reclaimer on `fake`, running, that has settled on the fake's current memory."""
    reclaimer = HeapReclaimer(
        slack=64 * MB,
        interval=0.01,
        measure=fake.measure,
        trim=fake.trim,
        cpu_seconds=fake.cpu_seconds,
    )
    reclaimer.start()
    await _ticks()
    return reclaimer


async def _ticks(n: int = 5) -> None:
    await asyncio.sleep(0.01 * n + 0.02)


async def test_trims_once_when_idle_memory_is_well_past_the_settled_level() -> None:
    fake = FakeProcess(400 * MB)
    reclaimer = await _started(fake)
    fake.rss, fake.after_trim = 700 * MB, 480 * MB  # a burst left 300 MB of holes
    await _ticks()
    await reclaimer.stop()
    assert fake.trim_calls == 1 and reclaimer.trims == 1
    assert fake.rss == 480 * MB


async def test_growth_within_the_slack_is_left_alone() -> None:
    # The held decoder working set (~52 MB) must stay warm on a quiet box.
    fake = FakeProcess(400 * MB)
    reclaimer = await _started(fake)
    fake.rss = 455 * MB
    await _ticks()
    await reclaimer.stop()
    assert fake.trim_calls == 0


async def test_waits_while_busy_then_trims_when_idle() -> None:
    fake = FakeProcess(400 * MB)
    reclaimer = await _started(fake)
    fake.rss, fake.after_trim = 900 * MB, 500 * MB
    for _ in range(8):  # a core's worth of CPU per tick: a burst in progress
        fake.cpu += 0.01
        await asyncio.sleep(0.01)
    assert fake.trim_calls == 0
    await _ticks()
    await reclaimer.stop()
    assert fake.trim_calls == 1 and fake.rss == 500 * MB


async def test_memory_that_stays_after_a_trim_is_the_new_level() -> None:
    # Memory really in use (a grown ONNX arena) is trimmed once, not every second.
    fake = FakeProcess(400 * MB)
    reclaimer = await _started(fake)
    fake.rss = fake.after_trim = 800 * MB
    await _ticks(10)
    await reclaimer.stop()
    assert fake.trim_calls == 1


async def test_a_lower_idle_reading_lowers_the_level() -> None:
    fake = FakeProcess(600 * MB)
    reclaimer = await _started(fake)
    fake.rss = 400 * MB  # memory given back on its own
    await _ticks()
    fake.rss, fake.after_trim = 500 * MB, 420 * MB  # +100 over the new level, not the old
    await _ticks()
    await reclaimer.stop()
    assert fake.trim_calls == 1 and fake.rss == 420 * MB


async def test_stops_watching_where_the_allocator_cannot_trim() -> None:
    fake = FakeProcess(400 * MB)
    fake.trim_works = False  # musl, macOS: no malloc_trim
    reclaimer = await _started(fake)
    fake.rss = 900 * MB
    await _ticks(10)
    assert fake.trim_calls == 1
    await reclaimer.stop()


# Holes: 64 KB blocks (under glibc's mmap threshold, so from the heap), each pinned in
# place by a small live block after it, so freeing them cannot shrink the heap's top.
_FRAGMENT = textwrap.dedent(
    """
    import ctypes, json
    import psutil
    from wyoming_rtx.memory import trim_free_memory

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    proc = psutil.Process()
    out = {"start": proc.memory_info().rss}
    blocks, pins = [], []
    for _ in range(2000):
        block = libc.malloc(64 * 1024)
        ctypes.memset(block, 1, 64 * 1024)
        blocks.append(block)
        pins.append(libc.malloc(64))
    out["filled"] = proc.memory_info().rss
    for block in blocks:
        libc.free(block)
    out["freed"] = proc.memory_info().rss
    out["trimmed_ok"] = trim_free_memory()
    out["trimmed"] = proc.memory_info().rss
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_trim_hands_fragmented_free_pages_back() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRAGMENT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["trimmed_ok"] is True
    filled = out["filled"] - out["start"]
    assert filled > 100 * MB  # 2000 x 64 KB really touched
    assert out["freed"] - out["start"] > 0.8 * filled  # free() alone keeps the holes
    assert out["trimmed"] - out["start"] < 0.2 * filled  # the trim gives them back
