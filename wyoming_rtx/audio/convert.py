"""Turn whatever audio format a client announces into 16 kHz, 16-bit mono for the models.

Home Assistant sends 16 kHz mono 16-bit, but other clients send 44.1 kHz stereo, 24-bit
or multichannel audio. The `wyoming` converter (audioop) handles rate, 8/16/32-bit and
one or two channels; it garbles more channels and cannot read 24-bit samples, and a
`rate: 0` makes it divide by zero. So the format is validated up front (a clear
`error` event instead of a crash), wider layouts are first folded to mono 16-bit with
numpy, and the library does the rest with its resampling state carried across chunks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from wyoming.audio import AudioChunk, AudioChunkConverter

from ..errors import RtxError

MODEL_RATE = 16_000
MODEL_WIDTH = 2
MODEL_CHANNELS = 1
MODEL_BYTES_PER_SECOND = MODEL_RATE * MODEL_WIDTH * MODEL_CHANNELS

SAMPLES_PER_CHUNK = 1024
"""Samples per `audio-chunk` we send (46 ms at 22050 Hz, as wyoming-piper sends them): small
enough to start playback at once, large enough that framing costs nothing."""

MIN_RATE = 4_000
MAX_RATE = 384_000
MAX_CHANNELS = 32
SUPPORTED_WIDTHS = (1, 2, 3, 4)


class AudioFormatError(RtxError):
    """The announced audio format cannot be converted."""

    code = "audio-format"


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AudioFormatError(f"audio {name} must be a number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise AudioFormatError(f"audio {name} must be a whole number, got {value!r}")
    return int(value)


def validate_format(rate: object, width: object, channels: object) -> tuple[int, int, int]:
    """Check an announced format; return it as ints or raise AudioFormatError."""
    rate_i = _as_int(rate, "rate")
    width_i = _as_int(width, "width")
    channels_i = _as_int(channels, "channels")
    if not MIN_RATE <= rate_i <= MAX_RATE:
        raise AudioFormatError(f"audio rate {rate_i} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if width_i not in SUPPORTED_WIDTHS:
        raise AudioFormatError(f"audio width {width_i} bytes is not one of {SUPPORTED_WIDTHS}")
    if not 1 <= channels_i <= MAX_CHANNELS:
        raise AudioFormatError(f"audio channels {channels_i} is outside 1-{MAX_CHANNELS}")
    return rate_i, width_i, channels_i


def _to_mono16(frames: bytes, width: int, channels: int) -> bytes:
    """Fold any width/channel layout to 16-bit mono by averaging channels."""
    if width == 1:
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.int32)
    elif width == 3:
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        value = np.where(value & 0x800000, value - 0x1000000, value)
        samples = value >> 8
    else:
        samples = np.frombuffer(frames, dtype="<i4").astype(np.int64) >> 16
    mono = samples.reshape(-1, channels).mean(axis=1)
    return np.clip(np.round(mono), -32768, 32767).astype("<i2").tobytes()


class PcmConverter:
    """Stateful converter for one audio stream (resampling state and partial frames carry over)."""

    def __init__(self, rate: object, width: object, channels: object) -> None:
        self.rate, self.width, self.channels = validate_format(rate, width, channels)
        self._frame_bytes = self.width * self.channels
        self._remainder = b""
        self._fold = self.width == 3 or self.channels > 2
        self._converter = AudioChunkConverter(
            rate=MODEL_RATE, width=MODEL_WIDTH, channels=MODEL_CHANNELS
        )

    def matches(self, rate: object, width: object, channels: object) -> bool:
        """True when a chunk announces this stream's format (mixed formats are refused)."""
        return (rate, width, channels) == (self.rate, self.width, self.channels)

    def convert(self, audio: bytes) -> bytes:
        """Convert one chunk; an odd trailing partial frame waits for the next chunk."""
        data = self._remainder + audio
        usable = len(data) - len(data) % self._frame_bytes
        self._remainder = data[usable:]
        frames = data[:usable]
        if not frames:
            return b""
        if self._fold:
            frames = _to_mono16(frames, self.width, self.channels)
            width, channels = 2, 1
        else:
            width, channels = self.width, self.channels
        if (self.rate, width, channels) == (MODEL_RATE, MODEL_WIDTH, MODEL_CHANNELS):
            return frames
        chunk = AudioChunk(rate=self.rate, width=width, channels=channels, audio=frames)
        return self._converter.convert(chunk).audio


def audio_chunks(rate: int, width: int, channels: int, pcm: bytes) -> Iterator[AudioChunk]:
    """Cut PCM into `audio-chunk` events of SAMPLES_PER_CHUNK samples (the last may be short)."""
    step = SAMPLES_PER_CHUNK * width * channels
    for offset in range(0, len(pcm), step):
        yield AudioChunk(
            rate=rate, width=width, channels=channels, audio=pcm[offset : offset + step]
        )
