"""--device auto on a box whose CUDA is visible but broken: the server still starts, on CPU."""

from __future__ import annotations

from typing import Any

import pytest

from wyoming_rtx.asr import device as asr_device
from wyoming_rtx.asr import engine as asr_engine
from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.errors import RtxError
from wyoming_rtx.settings import AsrSettings

from .conftest import read_wav_16k_mono

MISSING_CUBLAS = "Library libcublas.so.12 is not found or cannot be loaded"


@pytest.fixture
def broken_cuda(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """CTranslate2 "sees" a GPU, but loading a model on it fails as with missing cuBLAS."""
    real_model = asr_engine.WhisperModel
    devices: list[str] = []

    def whisper_model(*args: Any, device: str, **kwargs: Any) -> Any:
        devices.append(device)
        if device == "cuda":
            raise RuntimeError(MISSING_CUBLAS)
        return real_model(*args, device=device, **kwargs)

    monkeypatch.setattr(asr_device.ctranslate2, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(asr_engine, "WhisperModel", whisper_model)
    return devices


async def test_auto_falls_back_to_cpu_with_cpu_choices(
    broken_cuda: list[str], data_dir, caplog: pytest.LogCaptureFixture
) -> None:
    engine = AsrEngine(AsrSettings(device="auto"))
    assert (engine.device, engine.compute_type, engine.beam_size) == ("cuda", "float16", 5)
    try:
        await engine.load()
        assert broken_cuda == ["cuda", "cpu"]
        assert (engine.device, engine.compute_type, engine.beam_size) == ("cpu", "int8", 1)
        assert "using the CPU instead" in caplog.text and MISSING_CUBLAS in caplog.text
        pcm = read_wav_16k_mono(data_dir / "living_room_light_en.wav")
        assert "living room light" in (await engine.transcribe(pcm)).lower()
    finally:
        await engine.close()


async def test_explicit_cuda_fails_loudly(broken_cuda: list[str]) -> None:
    """The user asked for the GPU: hiding the failure would hide a slow box."""
    engine = AsrEngine(AsrSettings(device="cuda"))
    try:
        with pytest.raises(RuntimeError, match="libcublas"):
            await engine.load()
        assert broken_cuda == ["cuda"]
    finally:
        await engine.close()


def test_cuda_without_any_device_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr_device.ctranslate2, "get_cuda_device_count", lambda: 0)
    with pytest.raises(RtxError, match="no CUDA device"):
        AsrEngine(AsrSettings(device="cuda"))
