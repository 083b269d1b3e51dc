"""Piper's device: CUDA only where onnxruntime can give it, otherwise the CPU with one clear line.

This machine's onnxruntime is the CPU build (no CUDAExecutionProvider), which is exactly the
install that asks for CUDA without the `gpu` extra.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys

import onnxruntime
import pytest

from tests.tts.helpers import DETERMINISTIC
from wyoming_rtx.asr.device import PROBE_COMMAND_ENV, run_cuda_probe
from wyoming_rtx.tts import device as tts_device_module
from wyoming_rtx.tts.device import CPU_PROVIDER, CUDA_PROVIDER, pick_providers
from wyoming_rtx.tts.engine import TtsEngine

CPU_ONLY = ["AzureExecutionProvider", CPU_PROVIDER]
WITH_CUDA = [CUDA_PROVIDER, CPU_PROVIDER]
CUDA_FIRST = [(CUDA_PROVIDER, {"cudnn_conv_algo_search": "HEURISTIC"}), CPU_PROVIDER]
PASSING_PROBE = shlex.join([sys.executable, "-c", "print('{\"ok\": true}')"])
ABORTING_PROBE = shlex.join(
    [
        sys.executable,
        "-c",
        "import os, sys; print('Could not load library libcudnn_cnn.so.9', file=sys.stderr); "
        "os.abort()",
    ]
)


@pytest.mark.parametrize(
    ("requested", "available", "providers", "warns"),
    [
        ("cpu", WITH_CUDA, [CPU_PROVIDER], False),
        ("cuda", WITH_CUDA, CUDA_FIRST, False),
        ("auto", WITH_CUDA, CUDA_FIRST, False),
        ("auto", CPU_ONLY, [CPU_PROVIDER], False),
        ("cuda", CPU_ONLY, [CPU_PROVIDER], True),
    ],
)
def test_providers_follow_what_onnxruntime_offers(
    requested: str, available: list[str], providers: list[object], warns: bool
) -> None:
    chosen, warning = pick_providers(requested, available)
    assert chosen == providers
    assert (warning is not None) == warns
    if warning:
        assert "no CUDAExecutionProvider" in warning and "speaking on the CPU" in warning


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.skipif(
    CUDA_PROVIDER in onnxruntime.get_available_providers(), reason="needs a CPU-only onnxruntime"
)
async def test_use_cuda_without_the_provider_speaks_on_cpu_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = TtsEngine(dataclasses.replace(DETERMINISTIC, device="cuda"))
    try:
        await engine.load()
        chunks = [chunk async for chunk in engine.synthesize("Hello there.")]
        assert chunks and chunks[0].pcm
        assert engine.device == "cpu"
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert "no CUDAExecutionProvider" in warnings[0]
    finally:
        await engine.close()


async def test_cuda_provider_listed_but_not_started_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime-gpu that cannot load cuDNN builds a CPU session quietly: we say so.

    onnxruntime is told it has CUDA; the real InferenceSession then cannot start it and
    falls back to the CPU, as onnxruntime-gpu does without its libraries. The child probe
    is told to pass, so the in-process check is what speaks."""
    monkeypatch.setattr(tts_device_module.onnxruntime, "get_available_providers", lambda: WITH_CUDA)
    monkeypatch.setenv(PROBE_COMMAND_ENV, PASSING_PROBE)
    engine = TtsEngine(dataclasses.replace(DETERMINISTIC, device="cuda"))
    try:
        await engine.load()
        assert engine.device == "cpu"
        ours = [w for w in _warnings(caplog) if "Piper could not start CUDA" in w]
        assert len(ours) == 1, _warnings(caplog)
    finally:
        await engine.close()


async def test_default_settings_stay_on_cpu_silently(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wyoming_rtx.tts")
    engine = TtsEngine(DETERMINISTIC)
    try:
        await engine.load()
        assert engine.device == "cpu"
        assert _warnings(caplog) == []
        assert f"Loaded voice {engine.default_voice.name} on cpu" in caplog.text
    finally:
        await engine.close()


async def test_crashing_piper_probe_keeps_the_voice_on_cpu(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider is listed but its child dies by SIGABRT: one warning, the CPU, speech."""
    monkeypatch.setattr(tts_device_module.onnxruntime, "get_available_providers", lambda: WITH_CUDA)
    monkeypatch.setenv(PROBE_COMMAND_ENV, ABORTING_PROBE)
    engine = TtsEngine(dataclasses.replace(DETERMINISTIC, device="cuda"))
    try:
        await engine.load()
        chunks = [chunk async for chunk in engine.synthesize("Hello there.")]
        assert chunks and chunks[0].pcm and engine.device == "cpu"
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert "Piper on CUDA failed in a child process (was killed by SIGABRT" in warnings[0]
        assert "libcudnn_cnn.so.9" in warnings[0]
    finally:
        await engine.close()


@pytest.mark.skipif(
    CUDA_PROVIDER in onnxruntime.get_available_providers(), reason="needs a CPU-only onnxruntime"
)
def test_real_piper_probe_fails_cleanly_without_cuda() -> None:
    """The real child program: a CPU-only onnxruntime cannot start CUDA, and it says so."""
    voice = TtsEngine(DETERMINISTIC).default_voice
    request = {"kind": "piper", "model": str(voice.model_path), "config": str(voice.config_path)}
    command = [sys.executable, "-m", "wyoming_rtx.asr.cuda_probe"]
    result = run_cuda_probe(request, command, timeout=120)
    assert (result.ok, result.failure) == (False, "exited with status 1")
    assert "onnxruntime did not start CUDA" in result.stderr_tail
