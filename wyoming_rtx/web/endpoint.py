"""Server-side end of speech for browser turns (silero VAD over 32 ms frames).

A browser has no wake word and no local VAD we can trust, so the server decides: speech
starts after a few voiced frames in a row, and ends after `silence_seconds` of quiet. The
decision logic takes the VAD as a callable so it can be tested with plain numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

SAMPLE_RATE = 16000
FRAME_BYTES = 1024
"""silero takes exactly 512 samples of 16 kHz s16le mono per call."""
FRAME_SECONDS = FRAME_BYTES / 2 / SAMPLE_RATE


class Endpoint(Enum):
    """What a frame of audio decided."""

    SPEECH_STARTED = "speech-started"
    END_OF_SPEECH = "end-of-speech"
    NO_SPEECH = "no-speech"
    TOO_LONG = "too-long"


@dataclass(frozen=True)
class EndpointSettings:
    """Timing of the browser's turns."""

    threshold: float = 0.5
    """silero speech probability that counts as voiced."""
    start_frames: int = 3
    """Voiced frames in a row (about 96 ms) before speech counts as started; a click is not."""
    silence_seconds: float = 0.7
    """Quiet after speech that ends the turn (Home Assistant waits the same)."""
    no_speech_seconds: float = 8.0
    """Listening this long with no speech gives up."""
    max_seconds: float = 15.0
    """Longest utterance; the turn ends here even while the user keeps talking."""
    preroll_seconds: float = 1.0
    """Audio kept from before speech started, fed to the turn so the first word is whole."""


class Endpointer:
    """Feeds arbitrary-sized PCM, frames it for the VAD, and reports turn boundaries."""

    def __init__(
        self,
        vad: Callable[[bytes], float],
        settings: EndpointSettings,
        *,
        end_on_silence: bool = True,
    ) -> None:
        """end_on_silence: False for push-to-talk, where releasing the button ends the turn."""
        self._vad = vad
        self._settings = settings
        self._end_on_silence = end_on_silence
        self._pending = bytearray()
        self._frames = 0
        self._voiced_run = 0
        self._quiet_frames = 0
        self._speech_start_frame = 0
        self.speech_started = False
        self.finished = False

    @property
    def seconds(self) -> float:
        """Audio framed so far."""
        return self._frames * FRAME_SECONDS

    def process(self, pcm: bytes) -> list[Endpoint]:
        """The boundaries the new audio crossed, in order (usually none)."""
        events: list[Endpoint] = []
        if self.finished:
            return events
        self._pending += pcm
        settings = self._settings
        while len(self._pending) >= FRAME_BYTES and not self.finished:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            self._frames += 1
            voiced = self._vad(frame) >= settings.threshold
            if not self.speech_started:
                self._voiced_run = self._voiced_run + 1 if voiced else 0
                if self._voiced_run >= settings.start_frames:
                    self.speech_started = True
                    self._speech_start_frame = self._frames - self._voiced_run
                    events.append(Endpoint.SPEECH_STARTED)
                elif self.seconds >= settings.no_speech_seconds:
                    self.finished = True
                    events.append(Endpoint.NO_SPEECH)
                continue
            self._quiet_frames = 0 if voiced else self._quiet_frames + 1
            spoken = (self._frames - self._speech_start_frame) * FRAME_SECONDS
            if self._end_on_silence and self._quiet_frames * FRAME_SECONDS >= (
                settings.silence_seconds
            ):
                self.finished = True
                events.append(Endpoint.END_OF_SPEECH)
            elif spoken >= settings.max_seconds:
                self.finished = True
                events.append(Endpoint.TOO_LONG)
        return events
