"""The browser's end of turn on real speech: silero and the shared detector, browser rules.

The rules themselves are tested with plain numbers in ``tests/audio/test_endpoint.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.web.helpers import LEAD_SECONDS, TAIL_SECONDS, read_pcm
from wyoming_rtx.audio.endpoint import BROWSER_RULES, EndOfTurnDetector, EndReason, TurnPhase
from wyoming_rtx.audio.vad import CHUNK_SECONDS, SpeechDetector


def test_silero_finds_the_spoken_command(command_wav: Path) -> None:
    """On real speech: starts after the 1 s lead, ends 0.7 s after the words, before the tail."""
    pcm = read_pcm(command_wav)
    vad, detector = SpeechDetector(), EndOfTurnDetector(BROWSER_RULES)
    marks: dict[TurnPhase, float] = {}
    for start in range(0, len(pcm), 640):  # 20 ms pieces, as a page might send them
        for phase in detector.feed(vad.process(pcm[start : start + 640]), CHUNK_SECONDS):
            marks[phase] = detector.elapsed
    total = len(pcm) / 2 / 16000
    speech_end = total - TAIL_SECONDS
    assert set(marks) == {TurnPhase.SPEAKING, TurnPhase.ENDED}
    assert detector.end_reason is EndReason.SILENCE
    assert LEAD_SECONDS - 0.1 <= marks[TurnPhase.SPEAKING] <= LEAD_SECONDS + 0.4
    assert speech_end + 0.6 <= marks[TurnPhase.ENDED] <= speech_end + 1.1
