"""The numpy converter between sound-device formats and the satellite's 16 kHz mono."""

from __future__ import annotations

import time

import numpy as np
import pytest

from satellite.pcm import PcmConverter


def _sine(rate: int, seconds: float, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = np.sin(2 * np.pi * hz * t) * 0.5
    return np.repeat(wave[:, None], channels, axis=1)


def _pcm(samples: np.ndarray, width: int = 2) -> bytes:
    dtype = {2: np.int16, 4: np.int32}[width]
    return (samples * (1 << (8 * width - 1))).astype(dtype).tobytes()


def _match(out: bytes, rate: int, hz: float = 440.0) -> float:
    """Correlation of 16-bit mono ``out`` with the sine it should be (best lag of 0-2)."""
    got = np.frombuffer(out, dtype=np.int16).astype(np.float64) / 32768
    want = _sine(rate, len(got) / rate + 0.01, hz)[: len(got), 0]
    return max(float(np.corrcoef(got[lag:], want[: len(want) - lag])[0, 1]) for lag in range(3))


def test_a_48k_stereo_microphone_becomes_16k_mono() -> None:
    converter = PcmConverter((48000, 2, 2), (16000, 2, 1))
    out = converter.convert(_pcm(_sine(48000, 1.0, channels=2)))
    assert abs(len(out) // 2 - 16000) <= 1
    assert _match(out, 16000) > 0.999
    peak = np.abs(np.frombuffer(out, dtype=np.int16)).max() / 32768
    assert 0.45 < peak < 0.51


def test_pieces_of_any_size_give_the_same_samples_as_the_whole() -> None:
    pcm = _pcm(_sine(44100, 0.5, channels=2))
    whole = PcmConverter((44100, 2, 2), (16000, 2, 1)).convert(pcm)
    converter = PcmConverter((44100, 2, 2), (16000, 2, 1))
    rng = np.random.default_rng(1)
    pieces, i = [], 0
    while i < len(pcm):
        n = int(rng.integers(1, 3000))  # odd sizes: partial frames wait for the next piece
        pieces.append(converter.convert(pcm[i : i + n]))
        i += n
    assert b"".join(pieces) == whole


def test_answers_are_converted_to_what_the_speaker_accepts() -> None:
    converter = PcmConverter((22050, 2, 1), (48000, 2, 2))
    out = converter.convert(_pcm(_sine(22050, 1.0)))
    frames = np.frombuffer(out, dtype=np.int16).reshape(-1, 2)
    assert abs(len(frames) - 48000) <= 3
    assert (frames[:, 0] == frames[:, 1]).all()
    assert _match(frames[:, 0].tobytes(), 48000) > 0.999


def test_32_bit_input_and_passthrough() -> None:
    out = PcmConverter((16000, 4, 1), (16000, 2, 1)).convert(_pcm(_sine(16000, 0.2), width=4))
    assert _match(out, 16000) > 0.9999
    same = PcmConverter((16000, 2, 1), (16000, 2, 1))
    assert same.passthrough and same.convert(b"\x01\x02") == b"\x01\x02"
    assert same.convert(b"\x03") == b"" and same.convert(b"\x04\x05") == b"\x03\x04"
    with pytest.raises(ValueError, match="unsupported PCM format"):
        PcmConverter((16000, 3, 1), (16000, 2, 1))


def test_a_48k_stereo_microphone_costs_little_cpu() -> None:
    """A Raspberry Pi budget: one second of 48 kHz stereo, in 32 ms blocks, in a few ms here."""
    converter = PcmConverter((48000, 2, 2), (16000, 2, 1))
    pcm = _pcm(_sine(48000, 10.0, channels=2))
    block = 1536 * 4
    started = time.process_time()
    for i in range(0, len(pcm), block):
        converter.convert(pcm[i : i + block])
    per_second = (time.process_time() - started) / 10
    assert per_second < 0.02, f"{per_second * 1000:.1f} ms CPU per second of audio"
