"""The openWakeWord engine on pyopen-wakeword: one frame per 80 ms of audio, and a reset that
returns it to the state it started in (so the phrase after a detection scores as the first)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from satellite.settings import WakeSettings
from satellite.wake import OpenWakeWordEngine, WakeEngine, make_engine

from .conftest import read_pcm


def _scores(engine: WakeEngine, pcm: bytes) -> list[dict[str, float]]:
    frames: list[dict[str, float]] = []
    for i in range(0, len(pcm), 1024):
        frames += engine.process(pcm[i : i + 1024])
    return frames


def test_frames_follow_audio_time_and_reset_restores_the_start(
    oww_engine: WakeEngine, fixtures: Path
) -> None:
    pcm = read_pcm(fixtures / "wake_only.wav")
    oww_engine.reset()
    first = _scores(oww_engine, pcm)
    assert abs(len(first) - len(pcm) / 2 / 1280) <= 1, "one frame per 80 ms, none for priming"
    assert max(f["hey_jarvis"] for f in first) > 0.9
    assert max(f["ok_nabu"] for f in first) < 0.1
    started = time.process_time()
    oww_engine.reset()
    assert time.process_time() - started < 0.05, "a reset must not rescore seconds of silence"
    assert _scores(oww_engine, pcm) == first


def test_bundled_names_and_a_clear_error_for_onnx(tmp_path: Path) -> None:
    engine = make_engine(WakeSettings(names=("okay_nabu", "hey_mycroft", "hey_rhasspy")))
    assert isinstance(engine, OpenWakeWordEngine)
    assert [m.id for m in engine.models] == ["ok_nabu", "hey_mycroft", "hey_rhasspy"]
    with pytest.raises(FileNotFoundError, match="bundled: alexa, hey_jarvis"):
        make_engine(WakeSettings(names=("hey_nobody",)))
    model = tmp_path / "my_word.onnx"
    model.write_bytes(b"")
    with pytest.raises(ValueError, match="only .tflite"):
        make_engine(WakeSettings(names=(str(model),)))
