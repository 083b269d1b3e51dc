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
  and sent with it, so the first word is whole;
- complete: a judge that knows more than the sound (the server: Smart Turn on the audio and
  the speculative transcript) may end the turn at a short pause with ``complete()``; the
  silence rule then only bounds how long an unfinished-sounding turn waits
  (``JUDGED_RULES``). ``pause_wait`` is the judgment itself; what the transcript says (cut
  off, a command's start) is read in ``transcript_cues.py``.

Two presets, ``SATELLITE_RULES`` and ``BROWSER_RULES``, say why their numbers differ.

DECODE_PAUSE_SECONDS is the pause after which the server starts decoding what it has heard
(the speculative decode), in every stream: short on purpose, because a decode that speech
then overtakes is simply dropped, while one that is ready when the turn ends saves its whole
duration. The same pause is when the server judges whether the utterance is complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .transcript_cues import looks_unfinished, starts_a_command

DECODE_PAUSE_SECONDS = 0.064
"""Silence after speech that starts the speculative decode (two silero chunks), for every
stream: a turn the server judges, a satellite's own turn, Home Assistant's transcription.

A decode takes ~200 ms for a command with the short window and 300-700 ms with the full one
on a 2-core CPU, so every ms of waiting here is a ms of the answer's, and a pause that speech
overtakes only wastes a decode (two workers, so it queues nothing behind it).

- Judged turns, 64 instead of 100 ms: a local command's first sound p50 -46 and -70 ms in two
  back-to-back A/B runs of ``bench/end_of_turn.py --configs smart``, hesitations cut off 1/16
  and 1/16 (against 1/16 and 2/16), slow commands 0/8 early in all four.
- Home Assistant's transcription (0.7 s of silence before ``audio-stop``), 64 instead of
  200 ms: ``audio-stop`` -> transcript p50 131-166 -> 4 ms, p90 175-266 -> 122 ms, the same
  words (``bench/asr_side_by_side.py --quick``, back to back; 100 ms gave 85 ms). On a box
  where the full-window decode took 550-700 ms, 200 ms left it too little of the 0.7 s."""

END_PAUSE_SECONDS = 0.2
"""A turn judged complete ends no sooner than this into its pause (a fast GPU decode must not
end a turn at a gap between two words), as pipecat waits 200 ms before Smart Turn."""

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
    COMPLETE = "complete"
    """Judged complete at a short pause (``pause_wait``), before the silence rule."""
    MIC_LOST = "mic_lost"
    """The microphone stopped delivering mid-turn (unplugged, stalled): the satellite ends the
    turn with what it heard, since its rules count audio that may never come."""


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


JUDGED_RULES = EndOfTurnRules(silence_seconds=2.0, preroll_seconds=0.0)
"""The server's rules for a direct satellite's turn when it judges each pause (``--end-of-turn
smart``): a complete utterance ends at its first pause, so the silence rule only bounds the
wait of one that sounds unfinished ("Turn on the ... bedside lamp"): 2 s, about where people
resume after a hesitation, as huggingface/speech-to-speech and pipecat wait (their Smart Turn
stop time is 3 s). No pre-roll: the satellite already sent it with the turn's audio."""

UNJUDGED_RULES = EndOfTurnRules(silence_seconds=0.7, preroll_seconds=0.0)
"""The server's rules when no Smart Turn model is installed: only a transcript the home
understands as a command ends a turn at its pause; anything else waits Home Assistant's own
0.7 s of silence, the rule its users already know."""

SATELLITE_FALLBACK_SECONDS = 2.5
"""A direct satellite whose server judges the turn (it said ``voice-started``) keeps only
this silence rule of its own, a little past the server's 2 s, as a safety net should the
server's ``voice-stopped`` never come."""

COMPLETE_PROBABILITY = 0.5
"""Smart Turn's own threshold: above it the model calls the utterance complete."""

HESITATION_WAIT_SECONDS = 2.0
"""A transcript that reads as cut off ("Turn on the ...") waits this long for the rest."""

UNRECOGNISED_COMMAND_WAIT_SECONDS = 1.2
"""A command's start that is no command the home knows waits this long: either the speaker
hesitates ("Set the bedroom ... lamp to fifty"; the bench's pauses are 0.5-1.0 s) or a name
was misheard, and the turn then goes on to the LLM 1.2 s later instead of 2 s."""


def pause_wait(
    probability: float | None, command: bool, text: str, language: str | None = "en"
) -> float | None:
    """The judgment at a pause: 0 = the utterance is complete, end the turn now; else how
    much silence to wait for more speech; None = the rules' own silence decides.

    A transcript the home understands as a command is complete: on short commands the
    transcript is the surer signal (Smart Turn, trained on conversation, gives slow or
    synthetic commands anything from 0.02 to 0.98). A transcript that reads as cut off waits
    ``HESITATION_WAIT_SECONDS``, a command's start that is no command yet
    ``UNRECOGNISED_COMMAND_WAIT_SECONDS``. Anything else (a question, small talk) ends when
    Smart Turn (``probability``; None without the model) calls it complete.
    """
    if command:
        return 0.0
    if looks_unfinished(text, language):
        return HESITATION_WAIT_SECONDS
    if starts_a_command(text, language):
        return UNRECOGNISED_COMMAND_WAIT_SECONDS
    if probability is None:
        return None
    return 0.0 if probability >= COMPLETE_PROBABILITY else HESITATION_WAIT_SECONDS


SURE_COMPLETE_PROBABILITY = 0.9
"""On the sound alone (``sound_only_wait``), Smart Turn must be this sure to end a turn at a
short pause. On the end-of-turn bench's 150 recordings (``bench/turn_corpus.py`` seeds 19-21,
scored 0.2 s into each pause), 8 of 48 hesitations' first halves scored at least 0.9, and 36
of 48 plain commands did at their end."""

UNSURE_WAIT_SECONDS = 1.0
"""On the sound alone, an utterance Smart Turn is not sure is complete waits this long. On
those recordings (pauses of 0.5-1.0 s), 46 of 48 hesitations were cut off by a 0.5 s silence
rule, 26 by Home Assistant's 0.7 s, and 7 by this rule, which ended 36 of the 48 commands
0.2 s into their pause and the other 12 after 1 s. Smart Turn calls some plain commands
unfinished (a piper "turn on the kitchen light" scores 0.03), so a longer wait for a low score
(the server's 2 s, which the transcript backs there) would leave those commands waiting 2 s."""


def sound_only_wait(probability: float, silence_seconds: float = 0.0) -> float:
    """The judgment at a pause when only the sound is known (a satellite judging its own turn,
    without a transcript): 0 = complete, end the turn now; else the silence to wait, at least
    the rules' own ``silence_seconds``.

    Smart Turn alone mistakes a speaker's pause for an end more often than the transcript does
    (it was trained on conversation, not on commands said to a house), so only a sure verdict
    (``SURE_COMPLETE_PROBABILITY``) ends the turn at the pause; any other waits
    ``UNSURE_WAIT_SECONDS``.
    """
    if probability >= SURE_COMPLETE_PROBABILITY:
        return 0.0
    return max(UNSURE_WAIT_SECONDS, silence_seconds)


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
        self._silence_limit: float | None = None
        """A judge's wait for this pause (``wait``); speech puts the rules' own back."""

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
            self._silence_limit = None
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
            and self._silence_run >= (self._silence_limit or rules.silence_seconds) - _EPSILON
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

    @property
    def silence(self) -> float:
        """Seconds of silence since the last speech."""
        return self._silence_run

    @property
    def judged_wait(self) -> float | None:
        """The wait a judge asked for in this pause (``wait``), None when none has (or
        speech has resumed since)."""
        return self._silence_limit

    def wait(self, seconds: float) -> None:
        """A judge's verdict on this pause: the turn ends after ``seconds`` of silence
        (counted from the pause's start) unless speech resumes."""
        self._silence_limit = seconds

    def complete(self) -> bool:
        """A judge found the utterance complete: end now (``COMPLETE``) if speech started.

        False when the turn had already ended or never started (nothing to complete)."""
        if self.phase is not TurnPhase.SPEAKING:
            return False
        self._end(EndReason.COMPLETE)
        return True

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
