"""How a sentence becomes audio: whole through piper's own session, or, for a voice cut into
stages (`split_voice`), in pieces: its first fifth of a second rendered first, the rest sized to
be ready before the audio already sent has played.

Every render here runs on `engine`'s thread pool. Pieces of one sentence share one gain, chosen
at its first piece: piper normalizes each sentence to its own peak, which is only known once
all of it is rendered, so a cut voice scales by its peak on a known sentence (or the first
piece's, if louder) instead; its sentences are as loud as piper makes that one.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig

from .device import cpu_session
from .split_voice import CutVoice, Latent, VoiceStages

_LOGGER = logging.getLogger(__name__)

ESPEAK_LOCK = threading.Lock()
"""espeak-ng keeps global state (current voice, buffers) in the process, so phonemizing is
serialized across every engine and voice; it takes about a millisecond per sentence."""
LOUDNESS_TEXT = "Okay! The kitchen light is on, and the timer is set for five minutes."
"""Rendered once at load (noise off) to learn a cut voice's loudness: its peak sets the gain
of every sentence, as piper's own normalization would for this sentence."""
HEAD_FRAMES = 16
"""The first piece of a first sentence: 16 frames of 256 samples, 0.19 s at 22050 Hz. Its
render (joe-medium, 2 cores) is the encoder plus 40 frames of flow and 24 of decoder: 53
instead of 133 ms for the whole of "Turned on the kitchen lights." (`bench/tts_pieces.py`)."""


@dataclass
class Piece:
    """What one render in the pool made: audio, and for a sentence in pieces, what is left."""

    pcm: bytes
    latent: Latent | None = None
    """The sentence's encoder output while frames are left to render, else None."""
    position: int = 0
    """Frames rendered so far."""
    gain: float = 1.0
    seconds_per_frame: float = 0.0
    """Flow and decoder time per frame of this render, to size the next piece."""


def phonemize(piper_voice: PiperVoice, text: str) -> list[list[str]]:
    """piper's phonemes for `text`, one list per sentence espeak-ng finds, under the lock."""
    with ESPEAK_LOCK:
        return piper_voice.phonemize(text)


def open_cut_voice(
    piper_voice: PiperVoice, cut: CutVoice, threads: int, alone_threads: int
) -> tuple[VoiceStages, VoiceStages | None, float]:
    """A cut voice's CPU sessions (shared, and every-core when a core is left over), warmed
    up, and its loudness: the peak of `LOUDNESS_TEXT`, never below 1e-3."""
    stages_alone = None
    if not 0 < threads < alone_threads:
        stages = cut.open(cpu_session(threads, spinning=True))
    else:
        # The second set opens from the graphs as the first set's sessions optimized them.
        with tempfile.TemporaryDirectory(prefix="wyoming-rtx-voice-") as folder:
            stages = cut.open(cpu_session(threads, spinning=True, save_optimized_in=Path(folder)))
            try:
                optimized = cut.reread(Path(folder))
            except OSError as err:  # a full or read-only temporary folder: optimize again
                _LOGGER.debug("Optimized voice graphs not saved (%s)", err)
                optimized = None
            if optimized is not None:
                stages_alone = optimized.open(
                    cpu_session(alone_threads, spinning=False, optimized=True)
                )
        if stages_alone is None:
            stages_alone = cut.open(cpu_session(alone_threads, spinning=False))
    # The loudness, which warms the first set up; a first piece warms the second.
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    ids = piper_voice.phonemes_to_ids(phonemize(piper_voice, LOUDNESS_TEXT)[0])
    latent = stages.encode(ids, quiet)
    peak = float(np.max(np.abs(stages.audio(latent, 0, latent.frames))))
    if stages_alone is not None:
        stages_alone.audio(stages_alone.encode(ids, quiet), 0, HEAD_FRAMES)
    return stages, stages_alone, max(peak, 1e-3)


def render_whole(
    piper_voice: PiperVoice, text: str, syn_config: SynthesisConfig, stop: threading.Event
) -> bytes:
    """Text to 16-bit PCM, as piper's own `synthesize` does, with only espeak under a lock.

    piper splits into phonemize -> phoneme ids -> ONNX audio; `PiperVoice.synthesize` would
    phonemize the whole text first and cannot be interrupted between sentences.
    """
    if stop.is_set():
        return b""
    sentences = phonemize(piper_voice, text)
    parts: list[bytes] = []
    for phonemes in sentences:
        if stop.is_set():
            break
        if not phonemes:
            continue
        phoneme_ids = piper_voice.phonemes_to_ids(phonemes)
        audio = piper_voice.phoneme_ids_to_audio(phoneme_ids, syn_config)
        if isinstance(audio, tuple):  # (audio, alignments) only with include_alignments
            audio = audio[0]
        parts.append(_to_pcm(audio, syn_config))
    return b"".join(parts)


def _to_pcm(audio: np.ndarray, syn_config: SynthesisConfig) -> bytes:
    """Normalize, scale and clip float audio exactly as piper's `synthesize` does."""
    if syn_config.normalize_audio:
        peak = np.max(np.abs(audio))
        audio = np.zeros_like(audio) if peak < 1e-8 else audio / peak
    if syn_config.volume != 1.0:
        audio = audio * syn_config.volume
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    return np.clip(audio * 32767.0, -32767.0, 32767.0).astype(np.int16).tobytes()


def render_stages(
    piper_voice: PiperVoice,
    stages: VoiceStages,
    peak: float,
    text: str,
    syn_config: SynthesisConfig,
    stop: threading.Event,
    head: int,
) -> Piece:
    """A text through a cut voice's stages: the first `head` frames only, when asked and
    the text is one sentence longer than two heads; else all of it."""
    sentences = [phonemes for phonemes in phonemize(piper_voice, text) if phonemes]
    parts: list[bytes] = []
    for phonemes in sentences:
        if stop.is_set():
            break
        latent = stages.encode(piper_voice.phonemes_to_ids(phonemes), syn_config)
        if head and len(sentences) == 1 and latent.frames > 2 * head:
            started = time.perf_counter()
            audio = stages.audio(latent, 0, head)
            gain = gain_for(syn_config, max(peak, float(np.max(np.abs(audio)))))
            return Piece(
                scaled_pcm(audio, gain),
                latent=latent,
                position=head,
                gain=gain,
                seconds_per_frame=_per_frame(started, latent.frames, 0, head),
            )
        audio = stages.audio(latent, 0, latent.frames)
        gain = gain_for(syn_config, max(peak, float(np.max(np.abs(audio)))))
        parts.append(scaled_pcm(audio, gain))
    return Piece(b"".join(parts))


def continue_stages(stages: VoiceStages, piece: Piece, frames: int) -> Piece:
    """The next `frames` frames after `piece`, at its gain; the last piece has no latent."""
    latent = piece.latent
    assert latent is not None
    end = min(latent.frames, piece.position + frames)
    started = time.perf_counter()
    audio = stages.audio(latent, piece.position, end)
    return Piece(
        scaled_pcm(audio, piece.gain),
        latent=latent if end < latent.frames else None,
        position=end,
        gain=piece.gain,
        seconds_per_frame=_per_frame(started, latent.frames, piece.position, end),
    )


def _per_frame(started: float, frames: int, start: int, end: int) -> float:
    """Seconds per frame run (`VoiceStages.frames_run`) of a render that began at `started`."""
    return (time.perf_counter() - started) / VoiceStages.frames_run(frames, start, end)


def next_piece_frames(piece: Piece, ahead_seconds: float) -> int:
    """How many frames the next piece of a sentence may have to be ready in time.

    `ahead_seconds` is the audio handed out and not yet due to have played. The rest of the
    sentence goes at once when its render, at the speed the last piece was rendered, fits in
    three quarters of that; else the largest piece that does (at least `HEAD_FRAMES`), or the
    rest when less than `HEAD_FRAMES` would be left after it: every seam is rendered twice.
    On an idle CPU the rest of a sentence of a few seconds fits behind the first piece.
    """
    assert piece.latent is not None
    frames, start = piece.latent.frames, piece.position
    if piece.seconds_per_frame <= 0:
        return frames - start
    budget = 0.75 * ahead_seconds / piece.seconds_per_frame
    size = frames - start
    while size > HEAD_FRAMES and VoiceStages.frames_run(frames, start, start + size) > budget:
        size -= HEAD_FRAMES // 2
    size = max(size, HEAD_FRAMES)
    return frames - start if frames - start - size < HEAD_FRAMES else size


def gain_for(syn_config: SynthesisConfig, peak: float) -> float:
    """piper's normalization (to the peak) and volume as one factor."""
    gain = 1.0 / peak if syn_config.normalize_audio and peak >= 1e-8 else 1.0
    return gain * syn_config.volume


def scaled_pcm(audio: np.ndarray, gain: float) -> bytes:
    """Float audio times `gain`, clipped, as 16-bit PCM (piper's own conversion)."""
    audio = np.clip(audio * gain, -1.0, 1.0).astype(np.float32)
    return np.clip(audio * 32767.0, -32767.0, 32767.0).astype(np.int16).tobytes()
