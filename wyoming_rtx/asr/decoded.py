"""What one decode gave: its text, its cost and whisper's confidence in each part.

Its own module because the decode's helpers (command_window.py, vocabulary.py, stream.py)
pass it on without needing the engine that makes it."""

from __future__ import annotations

from dataclasses import dataclass

from .speech_gate import SegmentScore


@dataclass(frozen=True)
class Decoded:
    """One decode's text and cost, for the per-transcription log line and benchmarks."""

    text: str
    audio_seconds: float
    decode_seconds: float
    segments: tuple[SegmentScore, ...] = ()
    """Whisper's confidence in each part of the text (speech_gate.py)."""
