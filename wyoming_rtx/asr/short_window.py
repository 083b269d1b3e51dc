"""Decode a short command with a shorter encoder window than whisper's fixed 30 s.

faster-whisper pads every input to 30 s of log-mel frames, so on a CPU the encoder spends
most of a 2 s command's decode on 28 s of padding: tiny.en int8 on 2 cores took a median
371 ms per clip with the full window and 179 ms with a 15 s one (bench/asr_window.py), the
direct-satellite turn's first answer audio fell from 777 to 602 ms (bench/pipeline_turn.py),
and the peak memory of a decode from about +52 MB to under +15 MB. CTranslate2 accepts shorter
encoder inputs; whisper.cpp's `audio_ctx` is the same idea.

It is not the default window because the model was trained on 30 s windows and hears a
little worse with less: on 108 noisy piper commands (18 texts x 6 renderings, 0.3 s lead-in),
tiny.en misheard 10 at 15 s and 7 at 30 s, often the first word ("Pern off the kitchen
light"); on the 17 clean English clips the word error rate was 2.7 % against 2.0 %.
Too short a window also makes the decoder loop ("Lock the front door. Lock the front
door. ...") until the length cap: at 8-10 s on 2 of 15 English clips. So the window has a
floor, and a decode that runs into its token cap, or repeats a run of words, is thrown
away and redone the standard way.

Direct-satellite turns on a CPU use it anyway, safely (AsrEngine.decode_command): the fast
text is kept only when it reads as a local command, otherwise a second decode without the
home's names decides (command_window.py says in which window). On those same 108
commands that kept 100 fast decodes and changed no intent.

Only faster-whisper's decoding primitives are used (features, encoder, prompt, tokenizer,
suppressed tokens); its long-form machinery is not needed for one short window.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from .speech_gate import LOG_PROB_THRESHOLD, NO_SPEECH_THRESHOLD, SegmentScore, Transcribed

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FULL_WINDOW_SECONDS = 30.0
"""Whisper's own window: faster-whisper's standard path."""
HEADROOM_SECONDS = 2.0
"""Silence the window always keeps after the audio, so the last word is not at its edge."""
TOKENS_PER_SECOND = 10
"""Generous: fast English speech is ~4 tokens/s; a loop hits this cap, real speech does not."""
TOKEN_ALLOWANCE = 24


class EncoderCache:
    """The last short window's encoder output, for a decode of the same audio with another
    prompt: the home's names enter only the decoder, and the encoder is most of a short
    decode (tiny.en int8, 2 cores, a 15 s window: 77 of 121 ms, median of the end-of-turn
    corpus's 50 turns). A command the names made whisper mishear is decoded again without
    them (command_window.py) for the decoder's share alone. One entry: the turn just decoded.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[bytes, int] | None = None
        self._encoded: Any = None

    def encode(self, model: WhisperModel, audio: np.ndarray, frames: int) -> Any:
        """The encoder output of `audio` in a window of `frames` mel frames, made or reused."""
        key = (hashlib.blake2b(audio.tobytes(), digest_size=16).digest(), frames)
        with self._lock:
            if key == self._key:
                return self._encoded
        encoded = _encode(model, audio, frames)
        with self._lock:
            self._key, self._encoded = key, encoded
        return encoded


def _encode(model: WhisperModel, audio: np.ndarray, frames: int) -> Any:
    """Whisper's encoder over `audio` zero-padded to a window of `frames` mel frames."""
    padded = np.zeros(frames * model.feature_extractor.hop_length, dtype=np.float32)
    padded[: audio.size] = audio
    return model.encode(model.feature_extractor(padded)[:, :frames])


def window_frames(samples: int, window_seconds: float) -> int | None:
    """Mel frames to encode for `samples` of audio; None when the standard path is needed."""
    seconds = max(window_seconds, samples / SAMPLE_RATE + HEADROOM_SECONDS)
    if seconds >= FULL_WINDOW_SECONDS:
        return None
    frames = int(seconds * 100)
    return frames + frames % 2  # the encoder's stride-2 convolution wants an even count


def decode_short(
    model: WhisperModel,
    audio: np.ndarray,
    language: str | None,
    *,
    window_seconds: float,
    beam_size: int,
    initial_prompt: str | None,
) -> str | None:
    """Greedy/beam decode of one short window; None when the caller must use the full one.

    None means: the audio is too long for a short window, or the decoder ran into its
    token cap (a repetition loop). "" is a real result: the window holds no speech.
    """
    result = decode_short_scored(
        model,
        audio,
        language,
        window_seconds=window_seconds,
        beam_size=beam_size,
        initial_prompt=initial_prompt,
    )
    return None if result is None else result.text


def decode_short_scored(
    model: WhisperModel,
    audio: np.ndarray,
    language: str | None,
    *,
    window_seconds: float,
    beam_size: int,
    initial_prompt: str | None,
    encoder: EncoderCache | None = None,
) -> Transcribed | None:
    """decode_short, with whisper's confidence in the window (speech_gate.py); `encoder`
    reuses the encoder output of the same audio's last decode."""
    frames = window_frames(audio.size, window_seconds)
    if frames is None or (model.model.is_multilingual and not language):
        return None  # too long, or a language to detect: the standard path does both
    encoded = encoder.encode(model, audio, frames) if encoder else _encode(model, audio, frames)

    tokenizer = Tokenizer(
        model.hf_tokenizer,
        model.model.is_multilingual,
        task="transcribe",
        language=language or "en",
    )
    previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    prompt = model.get_prompt(tokenizer, previous, without_timestamps=True)
    cap = TOKEN_ALLOWANCE + int(TOKENS_PER_SECOND * audio.size / SAMPLE_RATE)
    # CTranslate2 stops Whisper at about half of `max_length`, prompt included; twice the
    # budget guarantees a loop can reach `cap` tokens, whichever way a version counts.
    max_length = min(model.max_length, 2 * (len(prompt) + cap) + 2)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=beam_size,
        max_length=max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    tokens = result.sequences_ids[0]
    if len(tokens) >= cap or _repeats_itself(tokenizer.decode(tokens)):
        _LOGGER.debug("Short-window decode looped (%d tokens): redoing it in full", len(tokens))
        return None
    text_tokens = [token for token in tokens if token < tokenizer.eot]
    # CTranslate2 scores are length-normalised; faster-whisper averages over tokens + 1.
    avg_log_prob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    # faster-whisper's own rule for a window of silence: both of its signals must say so.
    if result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_log_prob < LOG_PROB_THRESHOLD:
        return Transcribed("")
    text = tokenizer.decode(text_tokens).strip()
    return Transcribed(text, (SegmentScore(text, result.no_speech_prob, avg_log_prob),))


def _repeats_itself(text: str, shortest: int = 3) -> bool:
    """True when a run of `shortest`+ words is immediately repeated: a decoder loop that
    ended before the cap. Real commands do not say "the bedroom lamp the bedroom lamp"."""
    words = text.lower().split()
    for size in range(shortest, len(words) // 2 + 1):
        for start in range(len(words) - 2 * size + 1):
            if words[start : start + size] == words[start + size : start + 2 * size]:
                return True
    return False
