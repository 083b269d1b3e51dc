"""The openWakeWord engine on pyopen-wakeword: one frame per 80 ms of audio, and a reset that
returns it to the state it started in (so the phrase after a detection scores as the first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from satellite.settings import WakeSettings
from satellite.wake import OpenWakeWordEngine, WakeEngine, make_engine

from .conftest import read_pcm
from .sound_support import ROOT


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


def test_interpreters_run_on_one_thread_with_the_librarys_scores(fixtures: Path) -> None:
    """openWakeWord's interpreters get one thread (tflite_one_thread.py): TensorFlow Lite's own
    choice started 8 more threads that spin between frames, for the same scores. Run in a
    fresh process, so the threads counted are the engine's own."""
    child = textwrap.dedent(
        f"""
        import json, os, wave
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures
        from satellite.wake import OpenWakeWordEngine, openwakeword_models_dir

        def threads():
            return len(os.listdir("/proc/self/task"))

        with wave.open({str(fixtures / "wake_only.wav")!r}) as f:
            pcm = f.readframes(f.getnframes())
        before = threads()
        engine = OpenWakeWordEngine(["hey_jarvis"])
        frames = []
        for i in range(0, len(pcm), 1280 * 2):
            frames += [f["hey_jarvis"] for f in engine.process(pcm[i : i + 1280 * 2])]
        ours = threads() - before
        before = threads()
        features = OpenWakeWordFeatures.from_builtin(openwakeword_models_dir())
        model = OpenWakeWord.from_model(engine.models[0].path)
        theirs = []
        for emb in features.process_streaming(bytes(2)):  # the engine's silent priming
            list(model.process_streaming(emb))
        for i in range(0, len(pcm), 1280 * 2):
            for emb in features.process_streaming(pcm[i : i + 1280 * 2]):
                theirs += [float(p) for p in model.process_streaming(emb)]
        library = threads() - before
        print(json.dumps({{"ours": ours, "library": library, "frames": frames, "theirs": theirs}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ours"] == 0, "one-thread interpreters start no worker threads"
    assert result["library"] > 0, "the library's default does (else this test shows nothing)"
    # The library also scores the last partial frame; the engine waits for a whole one.
    assert len(result["theirs"]) - len(result["frames"]) in (0, 1)
    assert len(result["frames"]) > 20
    assert max(result["frames"]) > 0.9
    pairs = zip(result["frames"], result["theirs"][: len(result["frames"])], strict=True)
    assert max(abs(a - b) for a, b in pairs) < 1e-4
