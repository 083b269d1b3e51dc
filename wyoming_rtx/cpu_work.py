"""Which heavy CPU inference is in flight in this process, so a synthesis knows whether it has
the cores to itself.

A voice renders fastest on sessions with a thread per core whose threads spin within a run
(tts/device.py), but spinning threads take the cores from whatever else runs then. The answer
to a question is often rendered while its final transcript is still being decoded (a draft's
first sentence, pipeline/answer_run.py). On 2 cores a 3 s decode took 311 ms alone, 405
beside a render on spinning every-core sessions, 373 beside one on a one-thread session (and
370 beside the sleeping every-core sessions used before; bench/tts_threads.py). So
speech-to-text counts its CPU decodes here, and text-to-speech takes its every-core sessions
only when none is running.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class InFlight:
    """A count of runs in progress, from any thread."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Counted while the `with` block runs."""
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    @property
    def busy(self) -> bool:
        """True while at least one run is in progress."""
        return self._count > 0


CPU_DECODES = InFlight()
"""Speech-to-text decodes running on the CPU in this process (any engine)."""
