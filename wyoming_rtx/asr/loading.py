"""Opening the whisper model on its device, warmed up, for the engine (engine.py).

Kept apart from the engine, which transcribes: this is the start-up path, where a broken
CUDA must cost a warning (or, with --device cuda, a clear error) and never the server. So
the model is loaded in a child process on CUDA first (`probe_cuda`), and only then opened
here (`open_on_device`), with one warm-up per worker. These are plain functions: the engine
applies the device choices they decide (its `_apply`), and device.py's
`load_with_cpu_fallback` handles a Python exception on CUDA.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from faster_whisper import WhisperModel

from ..audio.convert import MODEL_RATE as SAMPLE_RATE
from ..language import supported_language
from ..settings import AsrSettings
from .device import CudaUnusableError, DeviceChoice, probe_command, run_cuda_probe
from .models import ResolvedAsrModel

__all__ = ["WarmUp", "open_on_device", "probe_cuda"]

_LOGGER = logging.getLogger(__name__)

WarmUp = Callable[[WhisperModel, np.ndarray, str], object]
"""Decodes `audio` (float32, 16 kHz) in `language` with a model, as the engine does."""


def probe_cuda(
    settings: AsrSettings, resolved: ResolvedAsrModel, device: str
) -> DeviceChoice | None:
    """On CUDA, load the model in a child process first (device.run_cuda_probe).

    A broken cuDNN aborts the process that loads the model, which no `except` catches:
    the child dies instead of the server. Its success also gives the compute type the GPU
    supports. Failure: auto switches to the CPU's choices, --device cuda stops the start
    with CudaUnusableError. Blocking: run it in the executor, never on the event loop; on the
    CPU (no GPU counted) nothing runs.

    device: the one chosen so far. Returns every choice that follows from the device the
    probe settled on (the engine applies it, `_apply`), or None for no change.
    """
    if device != "cuda":
        return None
    command = probe_command()
    if command is None:
        _LOGGER.warning("CUDA probe skipped: a broken CUDA install will abort the server")
        return None
    download_dir = settings.download_dir
    request: dict[str, object] = {
        "model": resolved.model,
        "compute_type": settings.compute_type,
        "download_root": str(download_dir) if download_dir is not None else None,
        "local_files_only": not resolved.download,
        "language": settings.language,
    }
    result = run_cuda_probe(request, command)
    if result.ok:
        choice = DeviceChoice.for_device(settings, "cuda", result.compute_type)
        _LOGGER.info(
            "CUDA probe passed in %.1f s: compute type %s (the GPU supports %s)",
            result.seconds,
            choice.compute_type,
            ", ".join(result.supported) or "?",
        )
        return choice
    reason = result.describe(resolved.name)
    if settings.device != "auto":
        raise CudaUnusableError(
            f"--device cuda, but {reason}. Install the CUDA 12 cuBLAS and cuDNN 9 "
            "libraries (pip install 'wyoming-rtx[gpu]'), or use --device auto or cpu"
        )
    _LOGGER.warning(
        "CUDA is visible but unusable: %s. Using the CPU instead (%.1f s spent probing). "
        "For GPU speed install the CUDA 12 cuBLAS and cuDNN 9 libraries "
        "(pip install 'wyoming-rtx[gpu]'), or pass --device cpu to skip the probe.",
        reason,
        result.seconds,
    )
    return DeviceChoice.for_device(settings, "cpu")


def open_on_device(
    settings: AsrSettings,
    resolved: ResolvedAsrModel,
    *,
    device: str,
    compute_type: str,
    num_workers: int,
    cpu_threads: int,
    beam_size: int,
    warm_up: WarmUp,
) -> WhisperModel:
    """Open the model with these choices and warm up each of its workers.

    One warm-up per worker, at once, so each CTranslate2 replica has run before the first
    real request lands on it. beam_size is only logged: `warm_up` decodes as the engine does.
    """
    started = time.perf_counter()
    download_dir = settings.download_dir
    model = WhisperModel(
        resolved.model,
        device=device,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        num_workers=num_workers,
        download_root=str(download_dir) if download_dir is not None else None,
        local_files_only=not resolved.download,
    )
    loaded = time.perf_counter()
    language = supported_language(settings.language, resolved.languages)
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    with ThreadPoolExecutor(num_workers, thread_name_prefix="asr-warm") as warm:
        list(warm.map(lambda _: warm_up(model, silence, language or "en"), range(num_workers)))
    _LOGGER.info(
        "Loaded ASR model %s on %s/%s (%s workers x %s threads, beam %s) in %.2f s, warm-up %.2f s",
        resolved.name,
        device,
        compute_type,
        num_workers,
        cpu_threads,
        beam_size,
        loaded - started,
        time.perf_counter() - loaded,
    )
    return model
