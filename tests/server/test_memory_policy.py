"""The allocator policy of memory.py, observed in a fresh process: a freed 60 MB block is
kept and reused (no new page faults), and without the policy glibc gives it back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

# In a worker thread, like the decode: allocate and touch a block the size of whisper's
# attention scores, free it, allocate it again; report RSS and minor page faults.
_PROBE = textwrap.dedent(
    """
    import ctypes, json, resource, sys, threading
    import psutil
    from wyoming_rtx.memory import hold_working_set

    held = hold_working_set() if sys.argv[1] == "hold" else False
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    size = 60 * 1024 * 1024
    proc = psutil.Process()
    out = {"held": held}

    def faults():
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt

    def work():
        keep = libc.malloc(1024)  # something live in the thread's heap, as in a real worker
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        libc.free(block)
        out["rss_after_free"] = proc.memory_info().rss
        before = faults()
        block = libc.malloc(size)
        ctypes.memset(block, 2, size)
        out["faults_second"] = faults() - before
        libc.free(block)
        libc.free(keep)

    out["rss_start"] = proc.memory_info().rss
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    print(json.dumps(out))
    """
)


def _probe(mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_held_block_is_reused_without_new_page_faults() -> None:
    held = _probe("hold")
    if not held["held"]:
        pytest.skip("not glibc: the policy does not apply")
    mb = 1024 * 1024
    assert held["rss_after_free"] - held["rss_start"] > 50 * mb  # kept after free
    assert held["faults_second"] < 1000  # 60 MB of fresh pages would be ~15,000


def test_without_the_policy_glibc_returns_the_block() -> None:
    released = _probe("release")
    mb = 1024 * 1024
    assert released["rss_after_free"] - released["rss_start"] < 20 * mb
    assert released["faults_second"] > 10_000
