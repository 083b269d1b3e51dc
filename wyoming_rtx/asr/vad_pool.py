"""The silero detectors the ASR streams borrow, and the few threads that run them.

A stream watches its audio for the pause that starts the decode during the silence
(stream.py); silero runs here, off the event loop, because scoring a few dozen streams at
once on it would push `describe` past Home Assistant's 1 s budget. An utterance that no
stream scanned (a whole one, or speculation off) is judged here too (`regions`, for
speech_gate.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from ..audio.vad import CHUNK_BYTES, SpeechDetector
from ..errors import RtxError
from .speech_gate import SpeechRegions

_LOGGER = logging.getLogger(__name__)

POOL_SIZE = 16
"""Idle detectors kept for reuse; more streams than this at once create (and drop) their own."""

# A small fixed pool bounds the process's threads where asyncio's default executor (up to
# cpus + 4 workers) would let them drift upward. Silero through ONNX Runtime scores a
# buffer of chunks in one call (~0.06-0.15 ms per 32 ms chunk) without holding the GIL,
# so two workers scan dozens of real-time streams at once and the event loop keeps running.
WORKERS = 2


class VadPool:
    """Reset silero detectors for the streams, and the worker threads that run them."""

    def __init__(self) -> None:
        """An empty pool; `warm_workers` (at the engine's load) starts the threads."""
        self._idle: list[SpeechDetector] = []
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="asr-vad")

    @property
    def idle(self) -> int:
        """Detectors waiting in the pool."""
        return len(self._idle)

    def acquire(self) -> SpeechDetector:
        """A reset detector; reused because loading one costs 3-5 ms on the loop."""
        return self._idle.pop() if self._idle else SpeechDetector()

    def release(self, detector: SpeechDetector) -> None:
        """Return a detector to the pool with its recurrent state cleared.

        Only a detector no worker thread is still running: its state would be reset under it.
        """
        detector.reset()
        if len(self._idle) < POOL_SIZE:
            self._idle.append(detector)

    async def probabilities(self, detector: SpeechDetector, audio: bytes) -> list[float]:
        """Silero over whole 32 ms chunks of `audio`, in a worker thread (off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, detector.probabilities, audio
        )

    async def regions(self, pcm: bytes) -> SpeechRegions:
        """Silero's verdict on a whole utterance (16 kHz s16le mono), in a worker thread."""
        detector = self.acquire()
        try:
            running = asyncio.get_running_loop().run_in_executor(
                self._executor, _every_chunk, detector, pcm
            )
        except RuntimeError as err:  # the executor is shut down: the engine is closing
            raise RtxError("The ASR engine is closed", "asr-closed") from err
        probabilities = await running
        # Not reached when cancelled: the thread may still use the detector, so it is dropped.
        self.release(detector)
        regions = SpeechRegions()
        regions.extend(probabilities)
        return regions

    def warm_workers(self) -> None:
        """Start every worker, and silero's native threads in it, now (blocking).

        Otherwise the second worker starts only when two streams first overlap, and that
        stream pays silero's start-up; the process's thread count is then fixed from Ready
        on, which is what makes a leak visible at all. The barrier holds each worker on
        its own task so that one fast worker cannot take both.
        """
        barrier = threading.Barrier(WORKERS, timeout=5.0)

        def warm(detector: SpeechDetector) -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                _LOGGER.debug("A VAD worker started late; it warms on first use instead")
            detector.probabilities(bytes(CHUNK_BYTES))

        detectors = [SpeechDetector() for _ in range(WORKERS)]
        list(self._executor.map(warm, detectors))
        for detector in detectors:
            self.release(detector)

    async def close(self) -> None:
        """Drop queued scans, wait for one in flight, and forget the idle detectors."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._idle.clear()


def _every_chunk(detector: SpeechDetector, pcm: bytes) -> list[float]:
    """Probabilities of every 32 ms chunk, the last partial one padded with silence
    (as AsrStream's tail check does, when it holds at least 4 ms)."""
    whole = len(pcm) - len(pcm) % CHUNK_BYTES
    probabilities = detector.probabilities(pcm[:whole])
    tail = pcm[whole:]
    if len(tail) >= 128:
        probabilities.append(detector.probability(tail.ljust(CHUNK_BYTES, b"\0")))
    return probabilities
