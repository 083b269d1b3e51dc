"""The satellite judging its own turn with Smart Turn (Home Assistant mode, or a server that
does not judge): a surely complete turn ends at a short pause, anything else waits 1 s, and
without the model the silence rule decides as before."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk

from satellite import turn_judge
from satellite.audio_out import Speaker
from satellite.cli import build_parser, settings_from_args
from satellite.core import SatelliteLoop
from satellite.mic_supervisor import MicSupervisor
from satellite.settings import (
    MicSettings,
    SatelliteSettings,
    SndSettings,
    WakeSettings,
)
from satellite.sinks import NullSink
from satellite.turn_judge import TurnJudge, load_turn_judge
from satellite.wake import WakeDetector, WakeEngine
from wyoming_rtx.audio import turn_model
from wyoming_rtx.audio.endpoint import UNSURE_WAIT_SECONDS, EndReason
from wyoming_rtx.audio.turn_model import TurnModel
from wyoming_rtx.errors import ModelNotFoundError

from .conftest import QueueMic, read_pcm, wait_for
from .ha_support import FakeHa, RecordingSink, ha_app, running_ha_app, satellite_settings
from .test_listen import RecordingTransport

DATA = Path(__file__).resolve().parents[1] / "data"
RATE = 16000


class FixedModel:
    """A stand-in for the ONNX session when the test is about the loop's logic: one score for
    every call (or an error), and the audio each call saw."""

    path = Path("fixed.onnx")

    def __init__(self, probability: float | Exception) -> None:
        self.result = probability
        self.calls: list[int] = []

    def probability(self, pcm: bytes) -> float:
        self.calls.append(len(pcm))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class JudgedTransport(RecordingTransport):
    """Every turn's uplink says whether the server judges it."""

    def __init__(self, server_judges: bool = False) -> None:
        super().__init__()
        self.server_judges = server_judges

    async def begin_turn(self, detection):  # noqa: ANN001, ANN201
        uplink = await super().begin_turn(detection)
        uplink.server_judges = self.server_judges
        return uplink


def _living_room_light() -> tuple[bytes, float]:
    """A real recording of "Turn on the living room light." and where its speech ends."""
    pcm = read_pcm(DATA / "living_room_light_en.wav")
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = np.sqrt((audio[: audio.size // 320 * 320].reshape(-1, 320) ** 2).mean(axis=1))
    last = np.flatnonzero(frames > 0.05 * frames.max())[-1]
    return pcm, (last + 1) * 320 / RATE


def _write(path: Path, *parts: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(b"".join(parts))
    return path


def _silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


async def _run(
    wav: Path, engine: WakeEngine, judge: TurnJudge | None, server_judges: bool = False
) -> tuple[SatelliteLoop, JudgedTransport]:
    settings = SatelliteSettings(
        mic=MicSettings(file=wav, tail_silence_seconds=2.0),
        snd=SndSettings(awake_wav=None, done_wav=None),
        wake=WakeSettings(names=("hey_jarvis",)),
    )
    transport = JudgedTransport(server_judges)
    loop = SatelliteLoop(
        settings,
        MicSupervisor(settings.mic),
        WakeDetector(engine, settings.wake),
        Speaker(settings.snd, NullSink()),
        transport,
        judge=judge,
    )
    try:
        await loop.run()
    finally:
        loop.close()
    return loop, transport


@pytest.fixture(scope="module")
def wake_phrase(fixtures: Path, sat_manifest: dict) -> bytes:
    """ "Hey jarvis" (piper) and a quarter second after it."""
    end = sat_manifest["wake_command.wav"]["wake_end_s"] + 0.25
    return read_pcm(fixtures / "wake_command.wav")[: int(end * RATE) * 2]


def _ended_after(loop: SatelliteLoop, speech_end_s: float) -> float:
    ended = next(e for e in loop.events if e.kind == "turn_ended")
    return ended.audio_seconds - speech_end_s


async def test_a_real_command_ends_at_its_first_short_pause_with_the_real_model(
    tmp_path: Path, wake_phrase: bytes, oww_engine: WakeEngine
) -> None:
    command, speech_end = _living_room_light()
    wav = _write(tmp_path / "turn.wav", wake_phrase, command, _silence(1.0))
    judge = TurnJudge(TurnModel.load(None))

    loop, transport = await _run(wav, oww_engine, judge)

    assert [t.reason for t in transport.turns] == [EndReason.COMPLETE]
    after = _ended_after(loop, len(wake_phrase) / 2 / RATE + speech_end)
    # The silence rule alone ends it 0.5 s into the pause at the earliest.
    assert 0.15 <= after < 0.45, f"ended {after:.3f} s after the last word"


async def test_an_unsure_turn_waits_a_second_so_a_pause_in_the_middle_does_not_end_it(
    tmp_path: Path, wake_phrase: bytes, oww_engine: WakeEngine
) -> None:
    command, speech_end = _living_room_light()
    first = command[: int((speech_end + 0.05) * RATE) * 2]  # "Turn on the living room light"
    wav = _write(tmp_path / "turn.wav", wake_phrase, first, _silence(0.75), command)
    last_word = (len(wake_phrase) + len(first)) / 2 / RATE + 0.75 + speech_end

    model = FixedModel(0.6)
    loop, transport = await _run(wav, oww_engine, TurnJudge(model))  # type: ignore[arg-type]

    assert [t.reason for t in transport.turns] == [EndReason.SILENCE]
    assert len(model.calls) == 2  # once per pause: the middle one, then the end
    assert bytes(transport.turns[0].pcm).count(command[: len(command) // 2]) == 2
    after = _ended_after(loop, last_word)
    assert UNSURE_WAIT_SECONDS <= after < UNSURE_WAIT_SECONDS + 0.25

    # The silence rule alone (no model) cuts the same turn off in its pause.
    loop, transport = await _run(wav, oww_engine, None)
    assert len(transport.turns) >= 1 and transport.turns[0].reason is EndReason.SILENCE
    assert _ended_after(loop, last_word) < 0


async def test_a_server_that_judges_the_turn_makes_the_satellite_judge_stand_aside(
    tmp_path: Path, wake_phrase: bytes, oww_engine: WakeEngine
) -> None:
    command, _ = _living_room_light()
    wav = _write(tmp_path / "turn.wav", wake_phrase, command, _silence(1.0))
    model = FixedModel(0.99)

    _, transport = await _run(wav, oww_engine, TurnJudge(model), server_judges=True)  # type: ignore[arg-type]

    assert model.calls == []
    assert [t.reason for t in transport.turns] != [EndReason.COMPLETE]


async def test_a_failing_model_leaves_the_silence_rule_in_charge(
    tmp_path: Path, wake_phrase: bytes, oww_engine: WakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    command, speech_end = _living_room_light()
    wav = _write(tmp_path / "turn.wav", wake_phrase, command, _silence(1.0))
    model = FixedModel(RuntimeError("onnxruntime fell over"))

    loop, transport = await _run(wav, oww_engine, TurnJudge(model))  # type: ignore[arg-type]

    assert [t.reason for t in transport.turns] == [EndReason.SILENCE]
    after = _ended_after(loop, len(wake_phrase) / 2 / RATE + speech_end)
    assert 0.45 <= after < 0.75
    assert "Smart Turn failed on this pause" in caplog.text


def test_auto_without_the_model_falls_back_to_the_silence_rule_and_says_how_to_add_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(turn_model, "find_bundled_turn_model", lambda: None)
    with caplog.at_level(logging.INFO, logger=turn_judge.__name__):
        assert load_turn_judge("auto") is None
    assert "the silence rule alone" in caplog.text
    assert "pip install --no-deps pipecat-ai" in caplog.text


def test_none_turns_the_judge_off_and_auto_loads_the_installed_model() -> None:
    assert load_turn_judge("none") is None
    judge = load_turn_judge("auto")
    assert judge is not None and judge.model.path.name == "smart-turn-v3.2-cpu.onnx"
    judge.close()


def test_a_model_file_that_is_missing_or_not_smart_turn_is_a_clear_error(tmp_path: Path) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        settings_from_args(parser, parser.parse_args(["--turn-model", str(tmp_path / "x.onnx")]))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    with pytest.raises(ModelNotFoundError, match="not a loadable ONNX model"):
        load_turn_judge(str(broken))
    settings = settings_from_args(parser, parser.parse_args(["--turn-model", str(broken)]))
    assert settings.vad.turn_model == str(broken)


async def test_in_home_assistant_mode_a_complete_command_is_sent_with_audio_stop_at_once(
    wake_phrase: bytes, oww_engine: WakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The journey of a Home Assistant user: the satellite (default settings: the installed
    Smart Turn model) streams "Turn on the living room light." to HA and ends the turn itself
    0.2 s into the pause, instead of after its 500 ms of silence or HA's 0.7 s."""
    caplog.set_level(logging.INFO, logger="satellite")
    command, speech_end = _living_room_light()
    mic, sink = QueueMic(), RecordingSink()
    settings = satellite_settings(snd=SndSettings(awake_wav=None, done_wav=None))
    assert settings.vad.turn_model == "auto"
    async with running_ha_app(ha_app(settings, mic, sink, oww_engine), mic) as port:
        ha = FakeHa(port)
        try:
            await ha.connect()
            mic.feed(wake_phrase + command[: int((speech_end + 0.05) * RATE) * 2] + _silence(1.5))
            await wait_for(lambda: "audio-stop" in ha.types())
            sent = sum(
                len(AudioChunk.from_event(e).audio) for e in ha.events if e.type == "audio-chunk"
            )
        finally:
            await ha.close()

    assert "End of turn: complete" in caplog.text
    # What HA got: the pre-roll (0.2 s), the command, and no more than 0.45 s of the pause.
    heard = sent / 2 / RATE - 0.2
    assert speech_end + 0.15 <= heard <= speech_end + 0.45, f"{heard:.3f} s streamed"
