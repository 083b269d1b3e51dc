"""Satellite test fixtures: piper-made WAVs (see make_fixtures.py) and loaded wake engines."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from satellite.settings import WakeSettings
from satellite.wake import WakeEngine, make_engine

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sat_manifest() -> dict[str, dict]:
    return json.loads((FIXTURES / "manifest.json").read_text())


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        return wav.readframes(wav.getnframes())


@pytest.fixture(scope="session")
def oww_engine() -> WakeEngine:
    """openwakeword with hey_jarvis plus two others (loading costs ~1 s: load once)."""
    return make_engine(WakeSettings(names=("hey_jarvis", "ok_nabu", "alexa")))


@pytest.fixture(scope="session")
def mww_engine() -> WakeEngine:
    return make_engine(
        WakeSettings(engine="microwakeword", names=("hey_jarvis", "okay_nabu", "alexa"))
    )
