"""Smart Turn v3: is the utterance so far a complete turn, or a pause in the middle of one?

One end-of-turn judge for the server and the satellite, so it must run where only numpy and
onnxruntime are installed: the Whisper log-mel features are computed here (no faster-whisper,
no pipecat import; pipecat-ai is installed with --no-deps only to carry the ONNX file). A call
costs ~70-120 ms on a 2-core CPU, so callers ask once per pause, not per chunk.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotFoundError

RATE = 16_000
SECONDS = 8
SAMPLES = SECONDS * RATE
N_FFT, HOP, N_MELS = 400, 160, 80
FRAMES = SAMPLES // HOP  # 800
INPUT_NAME = "input_features"
BUNDLED_PARTS = ("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")
_FIX = (
    "install the package that carries it (pip install --no-deps pipecat-ai==1.14.0) "
    "or pass --turn-model PATH to a Smart Turn v3 ONNX file"
)


@functools.cache
def _window_and_filters() -> tuple[np.ndarray, np.ndarray]:
    """The periodic Hann window and Whisper's slaney mel filterbank (80 x 201), made once."""
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    # Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    max_mel = min_log_mel + np.log(RATE / 2 / min_log_hz) / logstep
    mels = np.linspace(0.0, max_mel, N_MELS + 2)
    freqs = np.where(
        mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels
    )
    ramps = freqs[:, None] - np.fft.rfftfreq(N_FFT, 1.0 / RATE)[None, :]
    lower = -ramps[:-2] / np.diff(freqs)[:-1, None]
    upper = ramps[2:] / np.diff(freqs)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2:] - freqs[:-2]))[:, None]  # constant energy per band
    return window, weights.astype(np.float32)


def fit_window(audio: np.ndarray) -> np.ndarray:
    """The last 8 s of float audio, left-padded with zeros when shorter, as the model was fed."""
    audio = np.asarray(audio, dtype=np.float32)[-SAMPLES:]
    return np.pad(audio, (SAMPLES - audio.size, 0))


def log_mel(audio: np.ndarray) -> np.ndarray:
    """Whisper's log-mel features (80 x 800 float32) of exactly 8 s of 16 kHz float audio."""
    window, filters = _window_and_filters()
    padded = np.pad(audio.astype(np.float32), N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:FRAMES]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # (800, 201)
    spec = np.log10(np.maximum(filters @ power.T, 1e-10))
    spec = np.maximum(spec, spec.max() - 8.0)
    return ((spec + 4.0) / 4.0).astype(np.float32)


def features(audio: np.ndarray) -> np.ndarray:
    """Model input (1, 80, 800) for 16 kHz float audio of any length: last 8 s, normalised."""
    x = fit_window(audio)
    # Over the whole 8 s window, padding included, as transformers' extractor does in training.
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    return log_mel(x)[None]


def find_bundled_turn_model() -> Path | None:
    """The ONNX file inside an installed pipecat-ai, found without importing pipecat."""
    try:
        spec = importlib.util.find_spec("pipecat")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root).joinpath(*BUNDLED_PARTS)
        if path.is_file():
            return path
    return None


class TurnModel:
    """One ONNX Runtime session of Smart Turn v3; `probability` is blocking (use an executor)."""

    def __init__(self, session: Any, path: Path) -> None:
        self._session = session
        self.path = path

    @classmethod
    def load(cls, spec: str | Path | None = None, threads: int = 1) -> TurnModel:
        """Open the bundled model (None or "auto") or a local file; raises ModelNotFoundError."""
        if spec is None or str(spec).strip() in ("", "auto"):
            bundled = find_bundled_turn_model()
            if bundled is None:
                raise ModelNotFoundError(
                    "The bundled Smart Turn model (pipecat/audio/turn/smart_turn/data/"
                    f"smart-turn-v3.2-cpu.onnx) is not installed: {_FIX}."
                )
            path = bundled
        else:
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelNotFoundError(
                    f"Smart Turn model file {str(path)!r} does not exist: {_FIX}."
                )
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelNotFoundError(
                f"Smart Turn model {str(path)!r} needs onnxruntime, which is not importable: "
                "pip install onnxruntime (or onnxruntime-gpu), or pass --turn-model none."
            ) from exc
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = max(1, threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelNotFoundError(
                f"{str(path)!r} is not a loadable ONNX model ({exc.__class__.__name__}): {_FIX}."
            ) from exc
        inputs = session.get_inputs()
        if (
            len(inputs) != 1
            or inputs[0].name != INPUT_NAME
            or inputs[0].shape[1:] != [N_MELS, FRAMES]
        ):
            got = [(i.name, i.shape) for i in inputs]
            raise ModelNotFoundError(
                f"{str(path)!r} is not a Smart Turn v3 model (wants one input {INPUT_NAME!r} "
                f"of shape [batch, {N_MELS}, {FRAMES}], has {got}): {_FIX}."
            )
        return cls(session, path)

    def probability(self, pcm: bytes, rate: int = RATE) -> float:
        """P(the turn is complete) for the whole turn so far, s16le mono PCM. Blocking."""
        if rate != RATE:
            from .convert import PcmConverter

            pcm = PcmConverter(rate, 2, 1).convert(pcm)
        audio = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        outputs = self._session.run(None, {INPUT_NAME: features(audio / 32768.0)})
        return float(np.asarray(outputs[0]).reshape(-1)[0])

    def warm(self) -> None:
        """One inference on 1 s of silence, so the first real call is not the slow one."""
        self.probability(bytes(2 * RATE))
