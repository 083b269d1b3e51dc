"""When has the speaker finished? The one end-of-turn module for satellite, browser and server.

One state machine, ``EndOfTurnDetector``, decides where a user's turn starts and ends for
every caller: the room satellite (after its wake word), the browser satellite (the server
decides for the page) and the benches that time them. It sees only "was this stretch of audio
speech, and how long was it", never audio or clocks, so every rule is testable with numbers
alone (as Home Assistant tests its ``VoiceCommandSegmenter``). Callers turn audio into those
numbers with ``wyoming_rtx.audio.vad.SpeechDetector`` (one decision per 32 ms).

The rules, all in ``EndOfTurnRules``:

- start: speech only counts once it has lasted ``min_speech_seconds`` in a row (~96 ms,
  three silero chunks): a door click is one chunk;
- silence: once speaking, ``silence_seconds`` of silence ends the turn; any speech resets
  the count, so mid-sentence pauses shorter than that never end it;
- no speech: listening ``no_speech_seconds`` without speech starting gives up;
- max length: no turn lasts more than ``max_seconds`` of audio, counted from the start of
  listening, so it also bounds a wait that never settles;
- push-to-talk (``end_on_silence=False``): silence never ends the turn; the caller ends it
  with ``release()`` when the button is let go (the max length still applies);
- pre-roll: ``preroll_seconds`` of audio from before the turn started is kept (``PreRoll``)
  and sent with it, so the first word is whole.

Two presets, ``SATELLITE_RULES`` and ``BROWSER_RULES``, say why their numbers differ.

DECODE_PAUSE_SECONDS is the pause after which the server starts decoding what it has heard
(the speculative decode): short on purpose, because a decode that speech then overtakes is
simply dropped, while one that is ready when the turn ends saves its whole duration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

DECODE_PAUSE_SECONDS = 0.2
"""Silence after speech that starts the speculative decode during the trailing silence."""

_EPSILON = 1e-9
"""Durations are sums of 0.032 s steps; compare with this slack so 3 x 0.032 counts as 0.096."""


class TurnPhase(StrEnum):
    """Where the turn is."""

    WAITING = "waiting"
    """Listening, no speech yet."""
    SPEAKING = "speaking"
    """Speech has started; waiting for enough silence (or the release, push-to-talk)."""
    ENDED = "ended"


class EndReason(StrEnum):
    """Why the turn ended."""

    SILENCE = "silence"
    """Speech then ``silence_seconds`` of silence: the normal end."""
    NO_SPEECH = "no_speech"
    """Speech never started within ``no_speech_seconds`` (or before the release)."""
    MAX_LENGTH = "max_length"
    """The turn reached ``max_seconds``."""
    RELEASED = "released"
    """Push-to-talk: the button was let go after speech had started."""


@dataclass(frozen=True)
class EndOfTurnRules:
    """The rules, in seconds. The defaults are the satellite's (``SATELLITE_RULES``)."""

    silence_seconds: float = 0.5
    """Silence after speech that ends the turn (why 500 ms: see ``SATELLITE_RULES``)."""
    min_speech_seconds: float = 0.096
    """Speech must last this long in a row before the turn counts as started (ignores clicks)."""
    no_speech_seconds: float = 5.0
    """A turn in which speech never starts ends after this long."""
    max_seconds: float = 15.0
    """Hard cap on one turn's length, from the start of listening."""
    preroll_seconds: float = 0.2
    """Audio from before the turn's start that is sent with it."""
    end_on_silence: bool = True
    """False for push-to-talk, where releasing the button (``release()``) ends the turn."""


SATELLITE_RULES = EndOfTurnRules()
"""The room satellite's default, after its wake word.

Why 500 ms of silence: the project's goal is the first answer audio within 700 ms of the end
of speech *including* endpointing; the server decodes during the trailing silence and piper's
first audio takes ~150 ms, which leaves ~500 ms for this window. Pauses inside a fluent spoken
command (between words, at a comma) are 100-350 ms, so 500 ms rarely cuts a user off; people
who pause longer can raise ``--vad-silence-ms``. 5 s without speech: the wake word said, the
user has changed their mind. The 200 ms pre-roll is audio from before the wake word fired:
words said right after the wake phrase while the detector was still deciding (it fires
40-140 ms after the phrase ends), without sending much of the phrase itself to the recognizer.
"""

BROWSER_RULES = EndOfTurnRules(silence_seconds=0.7, no_speech_seconds=8.0, preroll_seconds=1.0)
"""The browser satellite's, decided on the server for the page.

700 ms of silence, as Home Assistant's own pipeline waits: the page is a general client, not
tuned to the room satellite's first-audio goal, so it takes the more forgiving window that
users of Home Assistant's voice already know. 8 s without speech: no wake word has primed the
user, who pressed a button and may take a moment to begin. 1 s of pre-roll: with no wake word,
speech itself starts the turn, and the start rule fires only after ~96 ms of voiced audio
(later for a soft onset), so the audio before it is fed to the turn so the first word is whole.
"""


class EndOfTurnDetector:
    """Feed it ``(is_speech, seconds)`` for consecutive stretches of audio; it says the phase.

    Speech only counts once it has lasted ``min_speech_seconds`` in a row. Once speaking, any
    speech resets the silence count, so mid-sentence pauses shorter than ``silence_seconds``
    never end the turn. An ended turn stays ended and ignores further audio.
    """

    def __init__(self, rules: EndOfTurnRules = SATELLITE_RULES) -> None:
        self.rules = rules
        self.phase = TurnPhase.WAITING
        self.end_reason: EndReason | None = None
        self.elapsed = 0.0
        """Seconds of audio seen in this turn."""
        self.speech_started_at: float | None = None
        """Turn time at which the run of speech that started the turn began."""
        self.last_speech_at: float | None = None
        """Turn time at which the most recent speech stretch ended."""
        self._speech_run = 0.0
        self._silence_run = 0.0

    @property
    def speech_started(self) -> bool:
        """Speech has started (the turn may since have ended)."""
        return self.speech_started_at is not None

    @property
    def ended(self) -> bool:
        return self.phase is TurnPhase.ENDED

    def process(self, is_speech: bool, seconds: float) -> TurnPhase:
        """Account for ``seconds`` more audio; returns the phase after it."""
        if self.phase is TurnPhase.ENDED:
            return self.phase
        rules = self.rules
        self.elapsed += seconds

        if is_speech:
            self._speech_run += seconds
            self._silence_run = 0.0
            self.last_speech_at = self.elapsed
            if (
                self.phase is TurnPhase.WAITING
                and self._speech_run >= rules.min_speech_seconds - _EPSILON
            ):
                self.phase = TurnPhase.SPEAKING
                self.speech_started_at = self.elapsed - self._speech_run
        else:
            self._speech_run = 0.0
            self._silence_run += seconds

        if (
            self.phase is TurnPhase.SPEAKING
            and rules.end_on_silence
            and self._silence_run >= rules.silence_seconds - _EPSILON
        ):
            return self._end(EndReason.SILENCE)
        if self.phase is TurnPhase.WAITING and self.elapsed >= rules.no_speech_seconds - _EPSILON:
            return self._end(EndReason.NO_SPEECH)
        if self.elapsed >= rules.max_seconds - _EPSILON:
            return self._end(EndReason.MAX_LENGTH)
        return self.phase

    def feed(self, decisions: Iterable[bool], seconds: float) -> list[TurnPhase]:
        """Several decisions of ``seconds`` each; the phases entered, in order (usually none).

        ``SPEAKING`` is listed when speech started, even if the same decision also ended the
        turn; ``ENDED`` is last, and decisions after it are ignored.
        """
        entered: list[TurnPhase] = []
        for is_speech in decisions:
            if self.phase is TurnPhase.ENDED:
                break
            was_started = self.speech_started
            phase = self.process(is_speech, seconds)
            if self.speech_started and not was_started:
                entered.append(TurnPhase.SPEAKING)
            if phase is TurnPhase.ENDED:
                entered.append(phase)
        return entered

    def release(self) -> EndReason:
        """Push-to-talk let go: end now; ``RELEASED``, or ``NO_SPEECH`` if none had started.

        An already ended turn keeps the reason it ended with.
        """
        if self.phase is not TurnPhase.ENDED:
            self._end(EndReason.RELEASED if self.speech_started else EndReason.NO_SPEECH)
        assert self.end_reason is not None
        return self.end_reason

    def _end(self, reason: EndReason) -> TurnPhase:
        self.phase = TurnPhase.ENDED
        self.end_reason = reason
        return self.phase


class PreRoll:
    """The most recent ``seconds`` of 16 kHz s16le mono audio, for the start of a turn.

    Whole samples only, so what it hands out is always valid PCM.
    """

    BYTES_PER_SECOND = 16000 * 2

    def __init__(self, seconds: float) -> None:
        self.max_bytes = round(seconds * self.BYTES_PER_SECOND / 2) * 2
        self._buffer = bytearray()

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, pcm: bytes) -> None:
        """Keep ``pcm``, dropping the oldest audio beyond the limit."""
        self._buffer += pcm
        excess = len(self._buffer) - self.max_bytes
        if excess > 0:
            del self._buffer[:excess]

    def take(self) -> bytes:
        """Everything kept, oldest first; the buffer is empty afterwards."""
        pcm = bytes(self._buffer)
        self._buffer.clear()
        return pcm

    def clear(self) -> None:
        self._buffer.clear()
