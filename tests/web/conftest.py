"""Web fixtures: a spoken command as a WAV (the fake microphone and the WebSocket tests)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from tests.web.helpers import synthesize_command


@pytest.fixture(scope="session")
def command_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 kHz mono WAV: 1 s silence, "turn on the kitchen light", 2 s silence."""
    path = tmp_path_factory.mktemp("speech") / "kitchen_light.wav"
    audio = synthesize_command(16000)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(audio.tobytes())
    return path
