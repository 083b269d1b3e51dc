"""The turn state machine: when does the user's turn end? Numbers in, decisions out.

It sees only "was this stretch of audio speech, and how long was it", never audio or clocks,
so every rule is testable with numbers alone (as HA tests its ``VoiceCommandSegmenter``).

Why 500 ms of silence by default: the project's goal is the first answer audio within 700 ms
of the end of speech *including* endpointing; the server decodes during the trailing silence
and piper's first audio takes ~150 ms, which leaves ~500 ms for this window. Pauses inside a
fluent spoken command (between words, at a comma) are 100-350 ms, so 500 ms rarely cuts a user
off; people who pause longer can raise ``--vad-silence-ms`` (HA's own default is 700 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TurnState(StrEnum):
    """Where the turn is."""

    WAITING = "waiting"
    """Listening, no speech yet."""
    SPEAKING = "speaking"
    """Speech has started; waiting for enough silence."""
    ENDED = "ended"


class EndReason(StrEnum):
    """Why the turn ended."""

    SILENCE = "silence"
    """Speech then ``silence_seconds`` of silence: the normal end."""
    NO_SPEECH = "no_speech"
    """Speech never started within ``no_speech_seconds``."""
    MAX_LENGTH = "max_length"
    """The turn reached ``max_seconds``."""


@dataclass
class TurnTimings:
    """The rules, in seconds."""

    silence_seconds: float = 0.5
    min_speech_seconds: float = 0.096
    no_speech_seconds: float = 5.0
    max_seconds: float = 15.0


class TurnDetector:
    """Feed it ``(is_speech, seconds)`` for consecutive stretches of audio.

    Speech only counts once it has lasted ``min_speech_seconds`` in a row (a door click is one
    chunk). Once speaking, any speech resets the silence count, so mid-sentence pauses shorter
    than ``silence_seconds`` never end the turn.
    """

    def __init__(self, timings: TurnTimings) -> None:
        self.timings = timings
        self.state = TurnState.WAITING
        self.end_reason: EndReason | None = None
        self.elapsed = 0.0
        """Seconds of audio seen in this turn."""
        self.speech_started_at: float | None = None
        self.last_speech_at: float | None = None
        """Turn time at which the most recent speech stretch ended."""
        self._speech_run = 0.0
        self._silence_run = 0.0

    def process(self, is_speech: bool, seconds: float) -> TurnState:
        """Account for ``seconds`` more audio; returns the state after it."""
        if self.state is TurnState.ENDED:
            return self.state
        self.elapsed += seconds

        if is_speech:
            self._speech_run += seconds
            self._silence_run = 0.0
            self.last_speech_at = self.elapsed
            if (
                self.state is TurnState.WAITING
                and self._speech_run >= self.timings.min_speech_seconds
            ):
                self.state = TurnState.SPEAKING
                self.speech_started_at = self.elapsed - self._speech_run
        else:
            self._speech_run = 0.0
            self._silence_run += seconds

        if self.state is TurnState.SPEAKING and (self._silence_run >= self.timings.silence_seconds):
            return self._end(EndReason.SILENCE)
        if self.state is TurnState.WAITING and self.elapsed >= self.timings.no_speech_seconds:
            return self._end(EndReason.NO_SPEECH)
        if self.elapsed >= self.timings.max_seconds:
            return self._end(EndReason.MAX_LENGTH)
        return self.state

    def _end(self, reason: EndReason) -> TurnState:
        self.state = TurnState.ENDED
        self.end_reason = reason
        return self.state
