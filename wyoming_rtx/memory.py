"""How the server's C heap memory is kept and given back (glibc; elsewhere a no-op).

Two parts, both on by default: the decoders' working set is held between requests
(`hold_working_set`, off with `--release-memory`), and `HeapReclaimer` hands fragmented
free pages back once the server is idle after a burst (off with `--no-memory-reclaim`).

Why hold. Whisper's encoder needs one block of attention scores per decode: heads × 1500²
floats, 51.5 MiB for tiny on the 30 s window. glibc serves a block that large with a fresh
`mmap` and unmaps it on `free`, so every decode page-faults and zeroes ~13,000 pages and
resident memory jumps by 52 MB and back on every request, bad input or not. On a 2-core
box that churn is 10-15 % of a decode. Once the models are loaded, glibc is asked to serve
large blocks from its heaps and not to trim them: the first decode reserves the working
set and later decodes reuse it. A full-window transcription then takes 279 instead of
352 ms (bench/memory_policy_speed.py), and no single request, bad input included, adds
more than 7 MB, where released each 30 s decode, odd audio or not, left 54-69 MB more
(bench/bad_input_memory.py).

The price is paid under bursts: every other large buffer then lives in the heaps too, and
many requests at once fragment them. Four rounds of 50 concurrent clients peaked at up to
1,466 MB instead of 852 MB released, and trimming during the burst did not bring the peak
down. Without the reclaimer it was worse than a peak: the idle server was left +656,
+1,222, +1,537, +1,749 MB above start-up after each round (bench/load_soak.py --rounds 4
--server-arg=--no-memory-reclaim); with it, +188 at most. So the two go together, the
reclaimer with a slack wide enough to spare what the decoders keep on purpose; a trim after
a burst still gives that back, and the next decode reserves it once more.

The policy is set only *after* loading, so the loaders' one-off buffers (CTranslate2 reads
`model.bin` whole) are given back rather than kept. Elsewhere (musl, macOS, Windows)
nothing is changed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import time
from collections.abc import Callable

from .tasks import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

# <malloc.h> parameter numbers, stable across glibc releases.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# Free memory at the top of a heap is kept up to this much: room for the 51.5 MiB attention
# block, no more; beyond it glibc still returns it. 128 MiB kept more of everything else
# too: a run-on 20,000-character synthesis then left +40 MB instead of +3 MB.
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


@functools.cache
def _glibc_function(symbol: str) -> Callable[..., int] | None:
    """The C library's `symbol`, or None off Linux/glibc (musl has neither function).

    Looked up once: `find_library` runs `ldconfig` in a subprocess, and the reclaimer asks
    for `malloc_trim` on every trim."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), symbol)
    except (OSError, AttributeError):
        _LOGGER.debug("No %s in %s (not glibc); allocator left as it is", symbol, name)
        return None


def hold_working_set() -> bool:
    """Apply the policy; True when glibc accepted it, False where it does not apply."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    held = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(_M_MMAP_MAX, 0))
    if held:
        _LOGGER.info("Decoder working memory is kept between requests (--release-memory: not)")
    else:
        _LOGGER.debug("mallopt refused the working-set policy; allocator left as it is")
    return held


def trim_free_memory() -> bool:
    """Ask glibc to return every whole free page in its heaps; False where it cannot."""
    malloc_trim = _glibc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True


def resident_bytes() -> int:
    """This process's resident memory, from /proc (0 where there is no /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


RECLAIM_SLACK_BYTES = 64 * 1024 * 1024
"""With --release-memory: growth over the settled level that is taken to be
free-but-fragmented heap, not use."""
HELD_RECLAIM_SLACK_BYTES = 256 * 1024 * 1024
"""Holding (the default), each decoder keeps up to ~100 MB on purpose and a trim would
give that back too, so only growth well past it counts as fragmentation."""
RECLAIM_INTERVAL_SECONDS = 1.0
IDLE_CPU_FRACTION = 0.1
"""Process CPU time per second below which the server counts as idle (one core = 1.0)."""


class HeapReclaimer:
    """Gives fragmented free heap memory back after a burst of concurrent requests.

    glibc returns free memory only from the top of each heap. Many requests at once leave
    their freed buffers as holes between live ones, and those pages stay resident for
    good (figures in the module docstring). `malloc_trim(0)` hands the whole free pages in
    those holes back. It runs only when the process is idle (a trim during a burst would
    race the refill) and resident memory is `slack` bytes past its settled level, so a
    quiet home box, whose memory does not move, is never trimmed and keeps its decoders'
    working set warm. A trim takes 7-50 ms, off the event loop.
    """

    def __init__(
        self,
        slack: int = RECLAIM_SLACK_BYTES,
        interval: float = RECLAIM_INTERVAL_SECONDS,
        measure: Callable[[], int] = resident_bytes,
        trim: Callable[[], bool] = trim_free_memory,
        cpu_seconds: Callable[[], float] = time.process_time,
    ) -> None:
        self.slack = slack
        self.interval = interval
        self.measure = measure
        self.trim = trim
        self.cpu_seconds = cpu_seconds
        self.trims = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="heap reclaimer")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _watch(self) -> None:
        level = self.measure()
        if not level:
            return  # no /proc: nothing to watch
        cpu = self.cpu_seconds()
        while True:
            await asyncio.sleep(self.interval)
            now = self.measure()
            previous_cpu, cpu = cpu, self.cpu_seconds()
            busy = (cpu - previous_cpu) / self.interval
            if busy > IDLE_CPU_FRACTION:
                continue  # mid-burst: trimming now would only race the refill
            if now <= level + self.slack:
                level = min(level, now)
                continue
            started = time.perf_counter()
            # Off the loop: it walks every free chunk of every heap.
            if not await asyncio.to_thread(self.trim):
                return
            level = self.measure()
            cpu = self.cpu_seconds()  # the trim's own CPU is not a request
            self.trims += 1
            _LOGGER.debug(
                "Gave free heap memory back: %.0f -> %.0f MB in %.0f ms",
                now / 2**20,
                level / 2**20,
                (time.perf_counter() - started) * 1000,
            )
