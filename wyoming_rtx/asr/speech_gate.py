"""Nothing from non-speech: silero, then whisper's own signals, decide whether a transcription
holds speech at all.

Whisper writes words into anything: on tones, hum, music or silence tiny.en says "You",
"I'm", "Thank you." (usually put down to its subtitle-heavy training data), and Home
Assistant then acts on it. The server already
runs silero over every streamed utterance (the decode during the silence, stream.py), so its
verdict costs nothing extra there:

- **No speech** (no 32 ms chunk reaches SPEECH_PROBABILITY): the transcript is empty and no
  decode is spent (Home Assistant then says no text was recognised).
- **Blips only** (every speech region is shorter than MIN_SPEECH_SECONDS, silero's own
  `min_speech_duration_ms` default): the audio is decoded as usual (a fast "go", "up" or "two"
  is a blip of 224 ms, so blips are not simply dropped), but each segment's text is kept only when
  whisper itself is confident it heard speech, by faster-whisper's own two signals and
  thresholds (`no_speech_threshold` 0.6, `log_prob_threshold` -1.0). Whisper drops a window
  only when *both* say silence, because it has no second opinion; here the VAD has already
  said "not speech" for nearly all of the audio, so *either* suffices. Last, and only for
  blips, the phrases whisper is known to write into silence (SILENCE_PHRASES) are dropped even
  when it is confident: over six seconds of silence after four 120 ms slivers of speech,
  tiny.en wrote "Thank you." with no_speech_prob 0.37 and avg_logprob -0.999, a hair inside
  its own thresholds.
- **Speech** (a region of at least MIN_SPEECH_SECONDS): decoded and returned as before, by
  whisper's own rule, except a segment whisper *failed* to decode and also leans to hearing no
  speech in (SegmentScore.speechless: avg_logprob under its -1.0, no_speech_prob over
  PROMPTED_NO_SPEECH_THRESHOLD, 0.45): a TV in another room, a crowd, speech-like sound with no
  words to make out. Silero cannot tell it from speech (reversed speech keeps speech's
  spectrum: the side-by-side bench's TV babble, three reversed talkers at -40 dBFS, has a mean
  speech probability of 0.91 and one region of 9.5 s). Whisper alone would skip it
  (no_speech_prob 0.70, avg_logprob -1.10); with the home's names as its prompt it wrote "The"
  (0.56, -3.75): the prompt is what took it under whisper's 0.6. Real speech stays, even when
  whisper hears it badly: every recording measured at its own level kept no_speech_prob at or
  under 0.29 (the Spanish test recording through tiny.en: 0.13, with avg_logprob -1.3), and,
  made quiet (-40 and -50 dBFS), under 0.40 wherever whisper failed on it.

A region follows silero's own VADIterator hysteresis: it starts at a chunk of at least
SPEECH_PROBABILITY and lasts until a chunk below SILENCE_PROBABILITY.
"""

from __future__ import annotations

import enum
import logging
import re
import zlib
from dataclasses import dataclass

from ..audio.vad import CHUNK_SECONDS

_LOGGER = logging.getLogger(__name__)

SPEECH_PROBABILITY = 0.5
SILENCE_PROBABILITY = 0.35
"""Below this a chunk starts (or continues) a silence; between the two nothing changes,
the hysteresis silero's own VADIterator uses so a soft syllable does not split a word."""

MIN_SPEECH_SECONDS = 0.25
"""Shorter regions are blips (a click, a clatter, a note), not words: silero's own
`get_speech_timestamps` drops regions under 250 ms by default. Measured on piper's voice, one
word ("yes", "stop", "no") makes a region of 290-480 ms; spoken fast, "go", "up" or "two" only
224 ms, which is why a blip is still decoded, only held to whisper's own confidence."""

NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""faster-whisper's defaults (`transcribe(no_speech_threshold=, log_prob_threshold=)`)."""

PROMPTED_NO_SPEECH_THRESHOLD = 0.45
"""Whisper's 0.6, less what a prompt takes off no_speech_prob where there is no speech.

Whisper reads its prompt (the home's names, vocabulary.py) as text said just before the audio,
and then expects speech: on 48 babble clips (reversed bench-corpus speech, 16 seeds at -30, -40
and -50 dBFS) the names lowered no_speech_prob by a median 0.14 (0.02-0.26), on the 100 corpus
utterances (quiet, noisy, 8 kHz telephone) by only 0.03. Whisper's threshold is for a decode
without such a prompt, so ours is 0.6 - 0.14, rounded down. Where whisper also failed to decode
(avg_logprob under -1.0) real speech stayed below it: at most 0.29 at its recorded level
(the 100 utterances and the test recordings, foreign ones through tiny.en included) and 0.39
when made quiet (the utterances at -40 and -50 dBFS, 150 decodes); none of them was dropped."""

DOUBTFUL_NO_SPEECH = 0.3
"""Real speech whisper failed on kept no_speech_prob at or under 0.29 at its recorded level
(100 made recordings, the test recordings); babble that passes PROMPTED_NO_SPEECH_THRESHOLD
scored 0.41-0.45. Between the two a failed decode is checked again without the prompt."""


SILENCE_PHRASES = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "please subscribe",
        "you",
        "bye",
    }
)
"""The last guard, applied to blips only (never to speech): what whisper writes into silence
and noise, from its subtitle-heavy training data (widely reported for every model size; seen
here from tiny.en: "you", "Thank you."). Compared lower case, without punctuation."""


class Heard(enum.Enum):
    """What silero heard in a whole utterance."""

    NOTHING = "no speech"
    BLIPS = "only short blips"
    SPEECH = "speech"


class SpeechRegions:
    """Silero's per-chunk probabilities in, the utterance's verdict (`heard`) out."""

    def __init__(self) -> None:
        """No audio yet: nothing heard."""
        self.chunks = 0
        self.speech_chunks = 0
        """Chunks inside a speech region."""
        self.longest_chunks = 0
        """The longest speech region, in chunks."""
        self._run = 0
        self._inside = False

    def add(self, probability: float) -> None:
        """One 32 ms chunk's speech probability, in order."""
        self.chunks += 1
        if probability >= SPEECH_PROBABILITY:
            self._inside = True
        elif probability < SILENCE_PROBABILITY:
            self._inside = False
            self._run = 0
        if self._inside:
            self._run += 1
            self.speech_chunks += 1
            self.longest_chunks = max(self.longest_chunks, self._run)

    def extend(self, probabilities: list[float]) -> None:
        """Several chunks, in order."""
        for probability in probabilities:
            self.add(probability)

    @property
    def longest_seconds(self) -> float:
        """The longest speech region, in seconds."""
        return self.longest_chunks * CHUNK_SECONDS

    @property
    def heard(self) -> Heard:
        """Nothing, only blips, or speech (see the module's docstring)."""
        if not self.speech_chunks:
            return Heard.NOTHING
        if self.longest_seconds < MIN_SPEECH_SECONDS:
            return Heard.BLIPS
        return Heard.SPEECH


@dataclass(frozen=True)
class SegmentScore:
    """One decoded segment (a whole window for a command) and whisper's confidence in it."""

    text: str
    no_speech_prob: float
    avg_logprob: float

    @property
    def confident(self) -> bool:
        """Whisper is sure it heard speech: neither of its own silence signals fires."""
        return self.no_speech_prob <= NO_SPEECH_THRESHOLD and self.avg_logprob >= LOG_PROB_THRESHOLD

    @property
    def failed(self) -> bool:
        """Whisper's own mark of a failed decode (avg_logprob under -1.0), at which it would
        retry at a higher temperature."""
        return self.avg_logprob < LOG_PROB_THRESHOLD

    @property
    def doubtful(self) -> bool:
        """Failed, and closer to babble than any real speech measured (no_speech_prob over
        DOUBTFUL_NO_SPEECH, under the `speechless` bar): worth asking whisper again without
        the home's names (vocabulary.decode_with_names)."""
        return self.failed and DOUBTFUL_NO_SPEECH < self.no_speech_prob

    @property
    def skipped(self) -> bool:
        """Whisper's own rule would skip this window as no speech: both of its signals fire."""
        return self.failed and self.no_speech_prob > NO_SPEECH_THRESHOLD

    @property
    def speechless(self) -> bool:
        """Whisper failed to decode it and leans to hearing no speech in it (see the module's
        docstring): avg_logprob under its own -1.0, the point at which it would retry at a
        higher temperature (we decode once), and no_speech_prob over the prompted 0.45.

        Either signal alone would be wrong for speech: badly heard real speech fails the first
        (the Spanish test recording, -1.3; 8 kHz telephone commands, down to -1.4), and a
        confident decode may still carry 0.45 (a command at -50 dBFS, avg_logprob -0.9)."""
        return (
            self.avg_logprob < LOG_PROB_THRESHOLD
            and self.no_speech_prob > PROMPTED_NO_SPEECH_THRESHOLD
        )

    @property
    def silence_phrase(self) -> bool:
        """The text is one of whisper's known phrases for silence (SILENCE_PHRASES)."""
        return " ".join(re.sub(r"[^\w\s']", " ", self.text.lower()).split()) in SILENCE_PHRASES


@dataclass(frozen=True)
class Transcribed:
    """A decode's text and its segments' scores (empty when a decode gave none)."""

    text: str
    segments: tuple[SegmentScore, ...] = ()


def gated_text(heard: Heard, text: str, segments: tuple[SegmentScore, ...]) -> str:
    """The text to return for an utterance silero judged `heard`.

    NOTHING: "" (the caller should not have decoded at all). BLIPS: only the segments whisper
    is confident in, and none of its phrases for silence. SPEECH: the text unchanged, unless
    it loops or holds segments whisper failed on and leans to hearing no speech in
    (SegmentScore.speechless: babble, not words), which are dropped.
    """
    if heard is Heard.NOTHING:
        return ""
    if heard is Heard.BLIPS:
        kept = (s.text for s in segments if s.confident and not s.silence_phrase)
        return " ".join(kept).strip()
    if loops(text):
        _LOGGER.info("Decode looped (%d characters): nothing heard", len(text))
        return ""
    if not any(segment.speechless for segment in segments):
        return text
    for segment in segments:
        if segment.speechless:
            _LOGGER.info(
                "Speech-like sound without words (no_speech %.2f, avg_logprob %.2f): dropped %r",
                segment.no_speech_prob,
                segment.avg_logprob,
                segment.text,
            )
    return " ".join(s.text for s in segments if not s.speechless).strip()


LOOP_COMPRESSION_RATIO = 2.4
"""Whisper's own `compression_ratio_threshold`: text that zlib shrinks more than this much is
a decoder loop ("I'm going to be back, I'm going to be back, ..." from a TV's babble), which
whisper would retry at a higher temperature; we decode once, so it is dropped instead."""


def loops(text: str) -> bool:
    """The text repeats itself as a decoder loop does (whisper's compression-ratio test; too
    short a text to judge is never a loop)."""
    data = text.encode("utf-8")
    if len(data) < 48:
        return False
    return len(data) / len(zlib.compress(data)) > LOOP_COMPRESSION_RATIO
