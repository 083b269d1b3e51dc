"""Where the ASR model runs: device, compute type, beam, parallelism, and the CUDA fallback.

Everything the settings leave on "auto" is decided here from the device, so a load that
falls back from a broken CUDA to the CPU also switches to the CPU's choices.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ctranslate2

from ..errors import RtxError
from ..settings import AsrSettings
from .command_window import CPU_COMMAND_WINDOW_SECONDS
from .short_window import FULL_WINDOW_SECONDS

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DeviceChoice:
    """Every choice that follows from the device, where the settings leave it on auto."""

    device: str
    compute_type: str
    beam_size: int
    num_workers: int
    cpu_threads: int
    window_seconds: float
    command_window_seconds: float

    @classmethod
    def for_device(cls, settings: AsrSettings, device: str) -> DeviceChoice:
        """The settings' explicit values, and the device's defaults for the rest."""
        cuda = device == "cuda"
        num_workers, cpu_threads = pick_parallelism(device, settings.cpu_threads)
        return cls(
            device=device,
            compute_type=(
                settings.compute_type
                if settings.compute_type != "auto"
                else ("float16" if cuda else "int8")
            ),
            beam_size=settings.beam_size if settings.beam_size > 0 else (5 if cuda else 1),
            num_workers=num_workers,
            cpu_threads=cpu_threads,
            window_seconds=settings.window_seconds or FULL_WINDOW_SECONDS,
            command_window_seconds=settings.command_window_seconds
            or (FULL_WINDOW_SECONDS if cuda else CPU_COMMAND_WINDOW_SECONDS),
        )


def pick_device(requested: str) -> str:
    """ "auto" means CUDA when CTranslate2 counts a GPU; "cuda" without one is refused now."""
    if requested == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if requested == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise RtxError("--device cuda, but CTranslate2 sees no CUDA device", "no-cuda-device")
    return requested


def pick_parallelism(device: str, cpu_threads: int) -> tuple[int, int]:
    """(num_workers, cpu_threads) for WhisperModel.

    Two workers always, so one client's decode (or a speculative decode that speech made
    stale) never queues another client behind it. On CPU each worker gets every core (capped
    at 4, where tiny/base stop scaling) even though that oversubscribes. Measured three times
    on this shared 2-core box (4 clients at once, tiny.en int8, p95): 2 workers x 2 threads
    1.7 / 1.1 / 3.1 s, 1 x 2 1.8 / 1.4 / 3.0 s, 2 x 1 3.0 / 2.1 / 2.9 s; a lone request was
    as fast with 2 x 2 as with 1 x 2 (0.32-0.49 s) since it still has both cores. So 2 x 2
    is best or tied, and it keeps the no-queueing property. The machine was noisy.

    On CUDA, faster-whisper's BatchedInferencePipeline batches the VAD chunks of *one* long
    recording, not separate requests, so it adds nothing for short commands; two workers
    let two clients' decodes overlap on the GPU instead.
    """
    cores = os.cpu_count() or 1
    threads = cpu_threads if cpu_threads > 0 else min(cores, 4)
    if device != "cpu":
        return 2, threads
    return max(2, cores // threads), threads


def load_with_cpu_fallback(
    requested: str, device: str, load: Callable[[], T], use_cpu: Callable[[], None]
) -> T:
    """`load()` on the chosen device; with `--device auto`, a broken CUDA falls back to CPU.

    CTranslate2 counts a GPU even when cuBLAS or cuDNN are missing or the wrong version;
    that only fails at load or at the first decode (the warm-up). A voice box that
    refuses to start over it helps nobody, so auto means "CUDA if it works".

    requested: the device the settings asked for; device: the one `load` will use now;
    use_cpu: switches the caller to the CPU's choices before `load()` runs again.
    """
    try:
        return load()
    except Exception as err:
        if requested != "auto" or device == "cpu":
            raise
        _LOGGER.warning(
            "CUDA is visible but the ASR model failed on it (%s); using the CPU instead. "
            "For GPU speed install the CUDA 12 cuBLAS and cuDNN 9 libraries, or pass "
            "--device cpu to silence this.",
            err,
        )
        use_cpu()
        return load()
