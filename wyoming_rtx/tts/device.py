"""Where piper runs: the ONNX Runtime providers for --tts-device, with CUDA only after a trial
in a child process (a cuDNN that does not match can abort the process that loads it)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig

from .. import cuda_libraries
from ..asr.device import probe_command, run_cuda_probe
from .voices import VoiceDescription

_LOGGER = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
Provider = str | tuple[str, dict[str, str]]


def voice_device(piper_voice: PiperVoice) -> str:
    """ "cuda" when the voice's ONNX session really runs on CUDA, else "cpu"."""
    return "cuda" if CUDA_PROVIDER in piper_voice.session.get_providers() else "cpu"


def pick_providers(requested: str, available: list[str]) -> tuple[list[Provider], str | None]:
    """ONNX Runtime providers for `requested` ("auto", "cpu" or "cuda"), and a warning.

    CUDA only when this onnxruntime lists CUDAExecutionProvider (onnxruntime-gpu, the `gpu`
    extra); the CPU provider is always last, so ONNX Runtime can still run what CUDA cannot.
    The warning (None when there is nothing to say) is for "cuda" without the provider: the
    voice then speaks on the CPU rather than not at all. "auto" without it is silent.
    """
    if requested == "cpu":
        return [CPU_PROVIDER], None
    if CUDA_PROVIDER in available:
        # HEURISTIC: the exhaustive cuDNN search costs seconds per new sentence length.
        cuda: Provider = (CUDA_PROVIDER, {"cudnn_conv_algo_search": "HEURISTIC"})
        return [cuda, CPU_PROVIDER], None
    if requested == "cuda":
        return [CPU_PROVIDER], (
            "Piper on CUDA was asked for, but this onnxruntime has no CUDAExecutionProvider "
            f"(it offers {', '.join(available) or 'none'}): speaking on the CPU. Install the "
            "gpu extra with onnxruntime-gpu in place of onnxruntime (see bench/README.md)."
        )
    return [CPU_PROVIDER], None


def wants_cuda(requested: str) -> bool:
    """Whether `requested` ("auto", "cpu" or "cuda") will try CUDA with this onnxruntime.

    Says once why not, when CUDA was asked for and this onnxruntime cannot give it."""
    providers, warning = pick_providers(requested, onnxruntime.get_available_providers())
    if warning:
        _LOGGER.warning("%s", warning)
    return len(providers) > 1


def cpu_session(
    threads: int,
    spinning: bool = True,
    *,
    save_optimized_in: Path | None = None,
    optimized: bool = False,
) -> Callable[[bytes | str], onnxruntime.InferenceSession]:
    """A maker of CPU sessions with `threads` intra-op threads (see `open_voice`).

    save_optimized_in: write each model as ONNX Runtime optimized it to `0.onnx`, `1.onnx`...
    in this folder (its hardware-specific layout is only for this machine: ONNX Runtime's
    warning about that is silenced). optimized: the models given were saved so; skip the
    optimization (0.7 of the 1 s a piper encoder's session takes to open)."""
    made = 0

    def make(model: bytes | str) -> onnxruntime.InferenceSession:
        nonlocal made
        options = _thread_options(threads, spinning)
        if optimized:
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        if save_optimized_in is not None:
            options.optimized_model_filepath = str(save_optimized_in / f"{made}.onnx")
            options.log_severity_level = 3  # errors only
        made += 1
        return onnxruntime.InferenceSession(model, sess_options=options, providers=[CPU_PROVIDER])

    return make


def _thread_options(threads: int, spinning: bool) -> onnxruntime.SessionOptions:
    """Session options with `threads` intra-op threads, idle ones sleeping unless `spinning`.

    Spinning threads spin only while their own run lasts (`session.force_spinning_stop`).
    A cut voice runs its encoder, flow and decoder sessions one after another, and threads
    spinning on after their session's run took the cores from the next one's (2 threads on
    2 cores: a short reply's first audio 46 instead of 23 ms, bench/tts_threads.py).

    Spinning within a run is the fastest on an idle machine (23 ms against 32 sleeping), but
    not beside other work: right after a neighbour's inference it loses its lead (34 against
    32 ms), and beside a speech-to-text decode it slows the decode more (461 against 416 ms
    for 3 s of speech). So the every-core sessions, which a synthesis running alone takes,
    sleep; only the shared ones (one thread each on a small box) spin.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    if spinning:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    else:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def voice_config(description: VoiceDescription) -> PiperConfig:
    """The voice's piper config (sample rate, phonemes, speakers) from its JSON file."""
    return PiperConfig.from_dict(json.loads(description.config_path.read_text(encoding="utf-8")))


def _cuda_probe_passed(description: VoiceDescription) -> bool:
    """Speak once on CUDA in a child process first (asr.device.run_cuda_probe).

    A cuDNN that loads but does not match can abort the process that runs it, and no
    `except` catches that: the child dies instead of the server. False, with one warning,
    when the child failed; the voice then speaks on the CPU.
    """
    command = probe_command()
    if command is None:
        return True
    request: dict[str, object] = {
        "kind": "piper",
        "model": str(description.model_path),
        "config": str(description.config_path),
    }
    result = run_cuda_probe(request, command)
    if result.ok:
        _LOGGER.info("Piper CUDA probe passed in %.1f s", result.seconds)
        return True
    _LOGGER.warning(
        "Piper on CUDA failed in a child process (%s%s): speaking on the CPU",
        result.failure,
        f"; its last output: {result.stderr_tail}" if result.stderr_tail else "",
    )
    return False


def open_voice(
    description: VoiceDescription, device: str, threads: int, spinning: bool = True
) -> PiperVoice:
    """`PiperVoice.load`, plus a cap on ONNX Runtime's intra-op threads and the providers.

    `PiperVoice.load` gives each session one thread per core; with `parallel` requests
    running at once that oversubscribes the CPU, and each inference's parallel loops wait
    for descheduled threads (on a busy 2-core box: 1.9 s instead of 0.6 s per sentence).
    spinning=False: idle threads sleep instead of spinning between parallel loops, for the
    every-core session a synthesis running alone takes (`_thread_options` says why).
    """
    options = _thread_options(threads, spinning)
    providers, warning = pick_providers(device, onnxruntime.get_available_providers())
    if warning:
        _LOGGER.warning("%s", warning)
    if len(providers) > 1 and not _cuda_probe_passed(description):
        providers = [CPU_PROVIDER]
    if len(providers) > 1:
        cuda_libraries.preload()
    session = onnxruntime.InferenceSession(
        str(description.model_path), sess_options=options, providers=providers
    )
    used = session.get_providers()
    if len(providers) > 1 and CUDA_PROVIDER not in used:
        # onnxruntime-gpu without a loadable cuDNN/cuBLAS logs its own error and quietly
        # builds a CPU session: say so once, in our words.
        _LOGGER.warning(
            "Piper could not start CUDA for voice %s (onnxruntime's error is above): "
            "speaking on the CPU",
            description.name,
        )
    return PiperVoice(config=voice_config(description), session=session)
