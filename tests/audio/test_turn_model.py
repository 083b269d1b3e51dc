"""Smart Turn v3: our log-mel features against faster-whisper's, and what the real model says.

The model tests use the ONNX file that pipecat-ai carries (installed with --no-deps by
script/setup and the image); without it they are skipped, saying so. Every clip gets the pause
a caller waits for before asking (0.3 s of -60 dBFS noise): the model is only asked at a pause,
and it judges digital silence differently from a real room's.
"""

from __future__ import annotations

import importlib.util
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from wyoming_rtx.audio.convert import PcmConverter
from wyoming_rtx.audio.turn_model import (
    RATE,
    SAMPLES,
    TurnModel,
    features,
    find_bundled_turn_model,
    fit_window,
)
from wyoming_rtx.errors import ModelNotFoundError

CORPUS = Path(__file__).parents[2] / "bench" / "corpus"
BUNDLED = find_bundled_turn_model()
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
needs_model = pytest.mark.skipif(
    BUNDLED is None or not HAS_ORT,
    reason="the Smart Turn model is not installed: pipecat-ai (pip install --no-deps "
    "pipecat-ai==1.14.0) carries it, and onnxruntime runs it",
)


def read_pcm(path: Path) -> bytes:
    """A 16-bit WAV as 16 kHz mono s16le, through the server's own converter."""
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
    return PcmConverter(rate, width, channels).convert(frames)


def paused(pcm: bytes, seconds: float = 0.3) -> bytes:
    """The clip followed by the pause after which a caller asks the model (seeded room noise)."""
    noise = np.random.default_rng(0).normal(0.0, 32768 * 10 ** (-60 / 20), int(seconds * RATE))
    return pcm + np.round(noise).astype("<i2").tobytes()


def normalised_window(audio: np.ndarray) -> np.ndarray:
    window = fit_window(audio)
    return (window - window.mean()) / np.sqrt(window.var() + 1e-7)


@pytest.fixture(scope="module")
def model() -> TurnModel:
    return TurnModel.load()


@pytest.fixture(scope="module")
def lamp(data_dir: Path) -> bytes:
    """ "Turn on the living room lamp." (a 44.1 kHz stereo recording, converted)."""
    return read_pcm(data_dir / "turn_on_the_living_room_lamp.wav")


@pytest.mark.parametrize("source", ["random", "recording"])
def test_features_match_faster_whisper(source: str, lamp: bytes) -> None:
    extractor = pytest.importorskip("faster_whisper.feature_extractor").FeatureExtractor
    if source == "random":
        audio = np.random.default_rng(1).normal(0.0, 0.1, 3 * RATE)
    else:
        audio = np.frombuffer(lamp, dtype="<i2") / 32768.0
    ours = features(audio)
    reference = extractor(feature_size=80, chunk_length=8)(normalised_window(audio), padding=0)
    assert ours.shape == (1, 80, 800) and ours.dtype == np.float32
    assert reference.shape == (80, 800)
    assert np.abs(ours[0] - reference).max() < 1e-3


@pytest.mark.parametrize("seconds", [0.5, 8.0, 11.5])
def test_features_take_the_last_8_seconds(seconds: float) -> None:
    audio = np.random.default_rng(2).uniform(-0.5, 0.5, int(seconds * RATE)).astype(np.float32)
    window = fit_window(audio)
    kept = min(audio.size, SAMPLES)
    assert window.shape == (SAMPLES,)
    assert not window[: SAMPLES - kept].any()  # left-padded with zeros
    np.testing.assert_array_equal(window[SAMPLES - kept :], audio[-kept:])
    assert features(audio).shape == (1, 80, 800)
    np.testing.assert_array_equal(features(audio), features(audio[-SAMPLES:]))


def test_silence_gives_finite_features() -> None:
    assert np.isfinite(features(np.zeros(RATE, dtype=np.float32))).all()


@needs_model
def test_bundled_model_is_found_without_importing_pipecat() -> None:
    path = find_bundled_turn_model()
    assert path is not None and path.is_file()
    assert path.name == "smart-turn-v3.2-cpu.onnx"
    assert "pipecat" not in sys.modules


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-turn-model.onnx"
    with pytest.raises(ModelNotFoundError, match="no-such-turn-model.onnx") as caught:
        TurnModel.load(missing)
    assert "--turn-model" in str(caught.value)
    assert caught.value.code == "model-not-found"


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")
def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "turn.onnx"
    bogus.write_bytes(b"this is not an ONNX model\n" * 100)
    with pytest.raises(ModelNotFoundError, match="not a loadable ONNX model"):
        TurnModel.load(bogus)


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")
def test_an_onnx_model_that_is_not_smart_turn_is_refused() -> None:
    from onnxruntime.datasets import get_example

    with pytest.raises(ModelNotFoundError, match="not a Smart Turn v3 model"):
        TurnModel.load(get_example("sigmoid.onnx"))


@needs_model
@pytest.mark.parametrize(
    "clip",
    [
        "living_room_light_en.wav",
        "turn_on_the_living_room_lamp.wav",
        "kitchen_lights_on.wav",
        "lock_front_door.wav",
        "timer_ten_minutes.wav",
        "bedroom_temperature.wav",
        "capital_of_france.wav",
        "evening_scene.wav",
    ],
)
def test_a_complete_command_is_complete(model: TurnModel, data_dir: Path, clip: str) -> None:
    """Measured 0.97-0.99 (a human voice, a room recording and piper's joe voice)."""
    path = data_dir / clip if (data_dir / clip).exists() else CORPUS / clip
    assert model.probability(paused(read_pcm(path))) > 0.5


@needs_model
@pytest.mark.parametrize(
    ("clip", "complete_s", "cut_s"),
    [
        # "Turn off the lights in the kitchen and the | hallway, ..."
        ("evening_scene.wav", None, 1.79),
        # "What is the temperature in the | bedroom?"
        ("bedroom_temperature.wav", None, 1.50),
        # "... a light breeze from the west." (a sentence end) vs "... with a high of | ..."
        ("weather_passage.wav", 5.79, 3.03),
    ],
)
def test_a_command_cut_mid_phrase_is_not(
    model: TurnModel, clip: str, complete_s: float | None, cut_s: float
) -> None:
    """Cut after "the"/"of" in a longer utterance: measured 0.006-0.28, the whole 0.976-0.985.

    Short commands cut after "the" ("Turn on the") are NOT reliably caught (0.13-0.98 with a
    pause, depending on the voice), so none is asserted here.
    """
    pcm = read_pcm(CORPUS / clip)
    whole = pcm if complete_s is None else pcm[: int(complete_s * RATE) * 2]
    complete = model.probability(paused(whole))
    cut = model.probability(paused(pcm[: int(cut_s * RATE) * 2]))
    assert cut < 0.5
    assert complete - cut > 0.5


@needs_model
def test_other_rates_are_converted(model: TurnModel, data_dir: Path) -> None:
    with wave.open(str(data_dir / "turn_on_the_living_room_lamp.wav"), "rb") as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    mono = np.frombuffer(frames, dtype="<i2").reshape(-1, 2).mean(axis=1).astype("<i2")
    assert rate == 44100
    assert model.probability(mono.tobytes(), rate=rate) > 0.5


@needs_model
def test_load_takes_threads_and_warms(tmp_path: Path) -> None:
    twin = tmp_path / "copy.onnx"
    twin.write_bytes(BUNDLED.read_bytes())  # type: ignore[union-attr]
    model = TurnModel.load(twin, threads=2)
    assert model.path == twin
    model.warm()
    assert 0.0 <= model.probability(paused(b"")) <= 1.0


@needs_model
def test_without_onnxruntime_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ModelNotFoundError, match="needs onnxruntime"):
        TurnModel.load()
