"""Opt-in (`--hold-memory`): keep the C allocator's working set between requests.

Whisper's encoder needs one block of attention scores per decode: heads × 1500² floats,
51.5 MiB for tiny on the 30 s window. glibc serves a block that large with a fresh
`mmap` and unmaps it on `free`, so every decode page-faults and zeroes ~13,000 pages and
the server's resident memory jumps by 52 MB and back on each request. On a 2-core box
that churn is 10-15 % of a decode, and the jump makes memory look like it tracks the
requests, which it should not.

Once the models are loaded, glibc is asked to serve large blocks from its heaps and not to
trim them: the first decode reserves the working set and later decodes reuse it. On this
2-core box a full-window transcription then takes 283 instead of 341 ms
(bench/memory_policy_speed.py) and one more request adds no memory. It is not the default
because every other large buffer then lives in the heaps too, and under 50 concurrent
clients they fragmented: peak RSS +937 MB instead of +271 MB (bench/load_soak.py).
It is set only *after* loading, so the loaders' one-off buffers (CTranslate2 reads
`model.bin` whole) are given back rather than kept. Elsewhere (musl, macOS, Windows)
nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

_LOGGER = logging.getLogger(__name__)

# <malloc.h> parameter numbers, stable across glibc releases.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# Free memory at the top of a heap is kept up to this much (the largest working set the
# bundled model needs, with room); beyond it glibc still returns it.
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def hold_working_set() -> bool:
    """Apply the policy; True when glibc accepted it, False where it does not apply."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _LOGGER.debug("No mallopt in %s (not glibc); allocator left as it is", name)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    held = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(_M_MMAP_MAX, 0))
    if held:
        _LOGGER.info("Decoder working memory is kept between requests (--hold-memory)")
    else:
        _LOGGER.debug("mallopt refused the working-set policy; allocator left as it is")
    return held
