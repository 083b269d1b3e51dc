"""The gpu extra's CUDA libraries: one CUDA major version for CTranslate2 and piper, loaded by
the server itself, and a check that names what is missing.

The GPU image build runs the same check (`python -m wyoming_rtx.cuda_libraries`) with the real
wheels installed; these tests hold the pieces that can be checked without 2 GB of CUDA."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from wyoming_helpers import REPO

from wyoming_rtx import cuda_libraries

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
GPU_EXTRA = PYPROJECT["project"]["optional-dependencies"]["gpu"]

PROVIDER_NEEDS_126 = {
    "libcublasLt.so.12": "nvidia-cublas-cu12",
    "libcublas.so.12": "nvidia-cublas-cu12",
    "libcurand.so.10": "nvidia-curand-cu12",
    "libcufft.so.11": "nvidia-cufft-cu12",
    "libcudart.so.12": "nvidia-cuda-runtime-cu12",
    "libcudnn.so.9": "nvidia-cudnn-cu12",
}
"""NEEDED entries of onnxruntime-gpu 1.26.0's libonnxruntime_providers_cuda.so (readelf -d
on the PyPI wheel), and the wheel that provides each. 1.27.0 and later need .so.13 instead."""


@pytest.fixture(autouse=True)
def _fresh_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    """preload() remembers its result per process; each test starts from nothing."""
    monkeypatch.setattr(cuda_libraries, "_preloaded", None)


def test_the_gpu_extra_pins_a_cuda_12_onnxruntime_and_brings_what_it_opens() -> None:
    """onnxruntime-gpu is pinned to the last CUDA 12 build, and every library its CUDA provider
    opens comes from a CUDA 12 wheel of the same extra (the 1.31.1 pin needed CUDA 13)."""
    assert "onnxruntime-gpu==1.26.0" in GPU_EXTRA
    names = {re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0] for requirement in GPU_EXTRA}
    for library, wheel in PROVIDER_NEEDS_126.items():
        assert wheel in names, f"{library} needs {wheel} in the gpu extra"
    for requirement in GPU_EXTRA:
        if requirement.startswith("nvidia-"):
            assert "<" in requirement, f"{requirement}: a new major version must not slip in"


def test_the_image_and_the_readme_install_the_pinned_onnxruntime_gpu() -> None:
    """The Dockerfile, README and bench README swap in the very version the extra pins, and the
    image build checks the libraries load."""
    pinned = next(r for r in GPU_EXTRA if r.startswith("onnxruntime-gpu=="))
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f'"{pinned}"' in dockerfile
    assert "python -m wyoming_rtx.cuda_libraries" in dockerfile
    assert "LD_LIBRARY_PATH=" not in dockerfile, "the server loads the libraries itself"
    for doc in ("README.md", "bench/README.md"):
        text = (REPO / doc).read_text()
        versions = set(re.findall(r"onnxruntime-gpu==([\d.]+)", text))
        assert versions == {pinned.split("==")[1]}, f"{doc} installs {versions}"


def test_the_check_on_a_cpu_install_names_each_missing_piece() -> None:
    """This machine has the CPU onnxruntime and no nvidia wheels: the check exits 1 and says
    what to install, in sentences, without a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_rtx.cuda_libraries"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "onnxruntime-gpu==1.26.0" in result.stdout
    assert "no nvidia-* library wheels are installed" in result.stdout
    assert result.stdout.rstrip().endswith("GPU libraries: incomplete")


def _real_library() -> Path:
    """A shared library that really loads (libm), to stand in for a CUDA one."""
    maps = Path("/proc/self/maps").read_text()
    return Path(re.findall(r"(/\S*/libm\.so\.6)\s*$", maps, re.M)[0])


def _fake_wheels(root: Path, packages: dict[str, list[str]]) -> list[Path]:
    """`nvidia/<package>/lib/<name>` links to a real library, as the wheels lay them out."""
    dirs = []
    for package, names in packages.items():
        lib = root / "nvidia" / package / "lib"
        lib.mkdir(parents=True)
        for name in names:
            (lib / name).symlink_to(_real_library())
        dirs.append(lib)
    return dirs


def test_without_onnxruntime_gpu_the_wheels_libraries_are_loaded_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU onnxruntime cannot preload, but CTranslate2 still gets its libraries from the
    wheels' folders, found by package name."""
    dirs = _fake_wheels(
        tmp_path,
        {
            "cuda_runtime": ["libcudart.so.12"],
            "cublas": ["libcublasLt.so.12", "libcublas.so.12"],
        },
    )
    monkeypatch.setattr(cuda_libraries, "nvidia_lib_dirs", lambda: dirs)
    monkeypatch.setattr(cuda_libraries, "_onnxruntime_preload", lambda: False)
    assert cuda_libraries.preload() is True


def test_a_missing_wheel_is_no_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without cuBLAS there is nothing to load: False, and the CUDA load that follows fails
    (and falls back) as it would have."""
    dirs = _fake_wheels(tmp_path, {"cuda_runtime": ["libcudart.so.12"]})
    monkeypatch.setattr(cuda_libraries, "nvidia_lib_dirs", lambda: dirs)
    monkeypatch.setattr(cuda_libraries, "_onnxruntime_preload", lambda: False)
    assert cuda_libraries.preload() is False


def test_a_library_that_will_not_load_is_one_warning_and_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken file in a wheel (not an ELF library) is an OSError from the loader: one
    warning, False, and the next caller does not try again."""
    lib = tmp_path / "nvidia" / "cuda_runtime" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcudart.so.12").write_text("not a library")
    calls = []

    def dirs() -> list[Path]:
        calls.append(1)
        return [lib]

    monkeypatch.setattr(cuda_libraries, "nvidia_lib_dirs", dirs)
    monkeypatch.setattr(cuda_libraries, "_onnxruntime_preload", lambda: False)
    with caplog.at_level(logging.WARNING, logger="wyoming_rtx.cuda_libraries"):
        assert cuda_libraries.preload() is False
        assert cuda_libraries.preload() is False
    assert len(calls) == 1
    assert [r.getMessage() for r in caplog.records if "did not load" in r.getMessage()]


def test_nvidia_lib_dirs_finds_the_namespace_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wheels share the `nvidia` namespace package; each `nvidia/*/lib` folder is found."""
    _fake_wheels(tmp_path, {"cublas": ["libcublas.so.12"], "cudnn": ["libcudnn.so.9"]})
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "nvidia" or m.startswith("nvidia.")]:
        monkeypatch.delitem(sys.modules, name)
    found = cuda_libraries.nvidia_lib_dirs()
    assert [d.parent.name for d in found] == ["cublas", "cudnn"]
