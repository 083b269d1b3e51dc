"""Streaming PCM format conversion in numpy: any rate, width and channel count to any other.

Sound devices offer what they offer (a USB microphone 48 kHz stereo, a HAT speaker 44.1 kHz),
while wake word and VAD want 16 kHz mono and answers arrive at the voice's rate. wyoming's
``AudioChunkConverter`` does this with ``audioop``, which Python 3.13 removed: wyoming then
falls back to a pure-Python copy that costs ~10 % of a core for one 48 kHz stereo microphone
here (several times that on a Raspberry Pi), against well under 1 % for this.

The resampler interpolates linearly, as ``audioop.ratecv`` does, after a moving average over
one output period when it downsamples (a cheap anti-alias filter), and keeps its state across
chunks: converting a stream piece by piece gives the same samples as converting it at once.
"""

from __future__ import annotations

import numpy as np

_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}


class PcmConverter:
    """Converts a stream of raw PCM from one format to another, chunk by chunk."""

    def __init__(
        self,
        src: tuple[int, int, int],
        dst: tuple[int, int, int],
    ) -> None:
        """``src`` and ``dst`` are (rate, width, channels); widths 1, 2 or 4 bytes."""
        for rate, width, channels in (src, dst):
            if width not in _DTYPES or rate <= 0 or channels < 1:
                raise ValueError(f"unsupported PCM format: {rate} Hz, {width} B, {channels} ch")
        self.src = src
        self.dst = dst
        self._frame = src[1] * src[2]
        self._pending = b""
        self._step = src[0] / dst[0]
        self._smooth = max(1, round(self._step)) if self._step > 1 else 1
        self._history = np.zeros(self._smooth - 1, dtype=np.float32)
        self._tail = np.zeros(0, dtype=np.float32)
        """The last input sample (after smoothing) the next chunk interpolates from."""
        self._tail_start = 0
        """Index in the whole stream of the tail's first sample."""
        self._emitted = 0
        """Output samples so far: the next one sits at input ``offset + emitted * step``,
        computed from whole numbers each time so pieces of any size give the same result."""
        self._offset = (self._smooth - 1) / 2
        """The moving average delays its output by half its length: sample that much later."""

    @property
    def passthrough(self) -> bool:
        return self.src == self.dst

    def convert(self, pcm: bytes) -> bytes:
        """Convert what can be; a partial frame waits for the next call."""
        data = self._pending + pcm if self._pending else pcm
        usable = len(data) - len(data) % self._frame
        self._pending = data[usable:]
        if not usable:
            return b""
        if self.passthrough:
            return data[:usable] if usable < len(data) else data
        rate, width, channels = self.src
        samples = np.frombuffer(data[:usable], dtype=_DTYPES[width]).astype(np.float32)
        mono = samples.reshape(-1, channels).mean(axis=1) / float(1 << (8 * width - 1))
        return self._encode(self._resample(mono))

    def _resample(self, mono: np.ndarray) -> np.ndarray:
        if self.src[0] == self.dst[0]:
            return mono
        if self._smooth > 1:
            padded = np.concatenate([self._history, mono])
            self._history = padded[len(padded) - (self._smooth - 1) :]
            kernel = np.full(self._smooth, 1.0 / self._smooth, dtype=np.float32)
            mono = np.convolve(padded, kernel, mode="valid").astype(np.float32)
        signal = np.concatenate([self._tail, mono])
        last = self._tail_start + len(signal) - 1
        first = self._offset + self._emitted * self._step
        count = max(0, int((last - first) // self._step) + 1)
        positions = self._offset + (self._emitted + np.arange(count)) * self._step
        out = np.interp(positions - self._tail_start, np.arange(len(signal)), signal)
        self._emitted += count
        self._tail = signal[-1:]
        self._tail_start = last
        return out.astype(np.float32)

    def _encode(self, mono: np.ndarray) -> bytes:
        _, width, channels = self.dst
        scale = float(1 << (8 * width - 1))
        ints = np.clip(np.round(mono * scale), -scale, scale - 1).astype(_DTYPES[width])
        if channels > 1:
            ints = np.repeat(ints, channels)
        return ints.tobytes()
