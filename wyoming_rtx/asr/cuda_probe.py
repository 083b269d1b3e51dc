"""The CUDA probe's child side: load the ASR model on the GPU and decode one second of silence.

    python -m wyoming_rtx.asr.cuda_probe '{"model": PATH_OR_NAME, "compute_type": "auto", ...}'

A missing or mismatched cuDNN or cuBLAS does not raise a Python exception: CTranslate2 prints
"Could not load library libcudnn_ops_infer.so.8" and the process aborts
(SYSTRAN/faster-whisper#516). The server therefore runs this in a child process first
(device.run_cuda_probe) and loads the model in its own process only when the child survived.
The decode matters: the load alone touches cuBLAS, but cuDNN is first used by the encoder's
convolutions.

On success the last line of stdout is JSON: {"ok": true, "compute_type": ...,
"supported": [...], "load_seconds": ..., "decode_seconds": ...}. Any other end (a signal, a
non-zero exit, no such line) is a failure the parent describes from the exit and stderr.

This module imports nothing heavy at the top, so `pick_cuda_compute_type` is cheap to import
from the server side.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable

CUDA_COMPUTE_TYPE_PREFERENCE = ("float16", "int8_float16", "int8", "float32")
"""What `--compute-type auto` picks on a GPU, first supported wins. CTranslate2's own "auto"
is float16 where the GPU has fast float16 (tensor cores), else int8, else float32; this adds
int8_float16 (int8 weights, float16 activations) between them, which only differs on a GPU
that CTranslate2 reports with int8_float16 but not float16. A GPU without fast float16 (e.g.
Pascal) so stays on the GPU in int8 instead of failing to load a float16 model."""


def pick_cuda_compute_type(supported: Iterable[str]) -> str:
    """The first of CUDA_COMPUTE_TYPE_PREFERENCE that CTranslate2 says the GPU supports."""
    available = set(supported)
    for compute_type in CUDA_COMPUTE_TYPE_PREFERENCE:
        if compute_type in available:
            return compute_type
    return "float32"


def probe(request: dict[str, object]) -> dict[str, object]:
    """Load the model as the server will and decode one second of silence; raises on failure."""
    import ctranslate2
    import numpy as np
    from faster_whisper import WhisperModel

    from .. import cuda_libraries

    device = str(request.get("device", "cuda"))
    if device == "cuda":
        cuda_libraries.preload()
    supported = sorted(ctranslate2.get_supported_compute_types(device))
    compute_type = str(request.get("compute_type", "auto"))
    if compute_type == "auto":
        compute_type = pick_cuda_compute_type(supported) if device == "cuda" else "int8"
    download_root = request.get("download_root")
    started = time.perf_counter()
    model = WhisperModel(
        str(request["model"]),
        device=device,
        compute_type=compute_type,
        cpu_threads=1,
        num_workers=1,
        download_root=str(download_root) if download_root else None,
        local_files_only=bool(request.get("local_files_only", True)),
    )
    loaded = time.perf_counter()
    segments, _ = model.transcribe(
        np.zeros(16000, dtype=np.float32),
        beam_size=1,
        language=str(request.get("language") or "en"),
        without_timestamps=True,
        condition_on_previous_text=False,
    )
    list(segments)
    return {
        "ok": True,
        "compute_type": compute_type,
        "supported": supported,
        "load_seconds": round(loaded - started, 3),
        "decode_seconds": round(time.perf_counter() - loaded, 3),
    }


def probe_piper(request: dict[str, object]) -> dict[str, object]:
    """Open a piper voice on ONNX Runtime's CUDA provider and speak one word; raises on failure.

    onnxruntime-gpu that cannot load its CUDA libraries quietly builds a CPU session, so a
    session without the CUDA provider is a failure too.
    """
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    from .. import cuda_libraries

    cuda_libraries.preload()
    started = time.perf_counter()
    session = onnxruntime.InferenceSession(
        str(request["model"]),
        providers=[
            ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}),
            "CPUExecutionProvider",
        ],
    )
    if "CUDAExecutionProvider" not in session.get_providers():
        raise RuntimeError(f"onnxruntime did not start CUDA (it runs on {session.get_providers()})")
    with open(str(request["config"]), encoding="utf-8") as config_file:
        config = PiperConfig.from_dict(json.load(config_file))
    voice = PiperVoice(config=config, session=session)
    loaded = time.perf_counter()
    for phonemes in voice.phonemize("Ready."):
        voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes), SynthesisConfig())
    return {
        "ok": True,
        "load_seconds": round(loaded - started, 3),
        "decode_seconds": round(time.perf_counter() - loaded, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the probe from a JSON request; exit 0 and print the JSON result, or fail loudly.

    The request's "kind" is "whisper" (default: the ASR model) or "piper" (a voice).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wyoming_rtx.asr.cuda_probe REQUEST_JSON", file=sys.stderr)
        return 2
    request = json.loads(args[0])
    result = probe_piper(request) if request.get("kind") == "piper" else probe(request)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
