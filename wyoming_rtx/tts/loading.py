"""Opening a piper voice for the engine: cut into stages on the CPU when its graph allows,
else piper's own session (CUDA, or a voice that cannot be cut); warmed up either way."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from piper import PiperVoice, SynthesisConfig

from .device import open_voice, voice_config, voice_device, wants_cuda
from .render import open_cut_voice, render_whole
from .split_voice import VoiceStages, cut_voice
from .voices import VoiceDescription, verify_voice

_LOGGER = logging.getLogger(__name__)

_WARM_UP_TEXT = "Ready."


@dataclass
class LoadedVoice:
    """What loading a voice made: piper's voice, and its sessions."""

    voice: PiperVoice
    """Config, phonemizer and, unless the voice is cut, its ONNX session."""
    device: str
    alone: PiperVoice | None = None
    """The every-core session of a voice that is not cut (CPU only)."""
    stages: VoiceStages | None = None
    stages_alone: VoiceStages | None = None
    peak: float = 1.0


def load_voice(
    description: VoiceDescription, device: str, threads: int, alone_threads: int
) -> LoadedVoice:
    """Check a bundled voice's digests, load it and synthesize once (ONNX's warm-up).

    On the CPU the voice is cut into its stages when it can be (`split_voice`), and when a
    core is left over there is a second set of sessions for a synthesis running alone."""
    verify_voice(description)
    started = time.perf_counter()
    if not wants_cuda(device):
        device = "cpu"  # said once, by wants_cuda
        cut = cut_voice(description.model_path)
        if cut is not None:
            # Only the stages' sessions are opened: piper's whole-graph session is not.
            piper_voice = PiperVoice(config=voice_config(description), session=None)  # type: ignore[arg-type]
            stages, stages_alone, peak = open_cut_voice(piper_voice, cut, threads, alone_threads)
            _LOGGER.info(
                "Loaded voice %s on cpu, cut into encoder, flow and decoder, in %.2fs",
                description.name,
                time.perf_counter() - started,
            )
            return LoadedVoice(
                piper_voice, "cpu", stages=stages, stages_alone=stages_alone, peak=peak
            )
    piper_voice = open_voice(description, device, threads)
    alone = None
    if voice_device(piper_voice) == "cpu" and 0 < threads < alone_threads:
        alone = open_voice(description, "cpu", alone_threads, spinning=False)
        render_whole(alone, _WARM_UP_TEXT, SynthesisConfig(), threading.Event())
    loaded_at = time.perf_counter()
    render_whole(piper_voice, _WARM_UP_TEXT, SynthesisConfig(), threading.Event())
    _LOGGER.info(
        "Loaded voice %s on %s in %.2fs (warm-up %.2fs)",
        description.name,
        voice_device(piper_voice),
        loaded_at - started,
        time.perf_counter() - loaded_at,
    )
    return LoadedVoice(piper_voice, voice_device(piper_voice), alone=alone)
