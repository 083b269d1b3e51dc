"""Wake word and end of speech on piper fixtures, through the real listening loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from satellite.audio_out import Speaker
from satellite.core import SatelliteLoop
from satellite.mic_supervisor import MicSupervisor
from satellite.settings import MicSettings, SatelliteSettings, SndSettings, WakeSettings
from satellite.sinks import NullSink
from satellite.wake import WakeDetection, WakeDetector, WakeEngine
from wyoming_rtx.audio.endpoint import EndReason

from .conftest import read_pcm


class RecordingUplink:
    server_judges = False
    server_ended = False
    on_server_end = None

    def __init__(self) -> None:
        self.pcm = bytearray()
        self.reason: EndReason | None = None

    async def audio(self, pcm: bytes) -> None:
        self.pcm += pcm

    async def end(self, reason: EndReason) -> None:
        self.reason = reason


class RecordingTransport:
    """Takes every turn; never busy (no answers)."""

    busy = False

    def __init__(self) -> None:
        self.turns: list[RecordingUplink] = []
        self.detections: list[WakeDetection] = []

    async def begin_turn(self, detection: WakeDetection) -> RecordingUplink:
        self.detections.append(detection)
        self.turns.append(RecordingUplink())
        return self.turns[-1]

    answering = False

    def take_follow_up(self) -> bool:
        return False  # no answers, so no questions

    def interrupt(self) -> None:
        return None


async def listen(wav: Path, engine: WakeEngine, engine_name: str, **wake: object):
    settings = SatelliteSettings(
        mic=MicSettings(file=wav, tail_silence_seconds=1.0),
        snd=SndSettings(awake_wav=None, done_wav=None),
        wake=WakeSettings(engine=engine_name, names=("hey_jarvis",), **wake),  # type: ignore[arg-type]
    )
    return await run_loop(settings, engine)


async def run_loop(settings: SatelliteSettings, engine: WakeEngine):
    """The real listening loop over the settings' WAV, with turns recorded, not sent."""
    transport = RecordingTransport()
    loop = SatelliteLoop(
        settings,
        MicSupervisor(settings.mic),
        WakeDetector(engine, settings.wake),
        Speaker(settings.snd, NullSink()),
        transport,
    )
    await loop.run()
    return loop, transport


@pytest.mark.parametrize("engine_name", ["openwakeword", "microwakeword"])
async def test_wake_phrase_is_detected_once_near_its_end_and_the_turn_ends_on_silence(
    engine_name: str,
    fixtures: Path,
    sat_manifest: dict,
    oww_engine: WakeEngine,
    mww_engine: WakeEngine,
) -> None:
    engine = oww_engine if engine_name == "openwakeword" else mww_engine
    meta = sat_manifest["wake_command.wav"]
    loop, transport = await listen(fixtures / "wake_command.wav", engine, engine_name)

    wakes = [e for e in loop.events if e.kind == "wake"]
    assert [e.detail for e in wakes] == ["hey_jarvis"]
    delay = wakes[0].audio_seconds - meta["wake_end_s"]
    assert -0.3 <= delay <= 0.4, f"detected {delay:+.3f} s from the end of the wake phrase"

    assert len(transport.turns) == 1
    turn = transport.turns[0]
    assert turn.reason is EndReason.SILENCE
    ended = next(e for e in loop.events if e.kind == "turn_ended")
    after_last_word = ended.audio_seconds - meta["speech_end_s"]
    assert 0.45 <= after_last_word <= 0.9, f"turn ended {after_last_word:.3f} s after last word"

    # The streamed turn holds the pre-roll, then everything up to the decision.
    sent_seconds = len(turn.pcm) / 32000
    expected = ended.audio_seconds - wakes[0].audio_seconds + 0.2
    assert sent_seconds == pytest.approx(expected, abs=0.07)
    # ... and the whole command is in it: the command audio matches the fixture.
    pcm = read_pcm(fixtures / "wake_command.wav")
    start = int(meta["command_start_s"] * 16000) * 2
    end = int(meta["speech_end_s"] * 16000) * 2
    assert pcm[start:end] in bytes(turn.pcm)


@pytest.mark.parametrize("engine_name", ["openwakeword", "microwakeword"])
async def test_a_minute_of_other_speech_never_wakes(
    engine_name: str,
    fixtures: Path,
    sat_manifest: dict,
    oww_engine: WakeEngine,
    mww_engine: WakeEngine,
) -> None:
    engine = oww_engine if engine_name == "openwakeword" else mww_engine
    assert sat_manifest["no_wake_speech.wav"]["duration_s"] >= 60
    loop, transport = await listen(fixtures / "no_wake_speech.wav", engine, engine_name)
    assert [e for e in loop.events if e.kind == "wake"] == []
    assert transport.turns == []
    assert loop.audio_seconds >= 60
    # Its CPU cost is a benchmark's (`bench/satellite_detect.py --defaults-cpu`), not a
    # timed assertion: in the full suite it counted other tests' threads (11.7 % of a core).


async def test_no_speech_after_the_wake_word_times_out(
    fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    from dataclasses import replace

    settings = SatelliteSettings(
        mic=MicSettings(file=fixtures / "wake_only.wav", tail_silence_seconds=0.0),
        snd=SndSettings(awake_wav=None, done_wav=None),
        wake=WakeSettings(names=("hey_jarvis",)),
    )
    settings = replace(settings, vad=replace(settings.vad, no_speech_seconds=3.0))
    loop, transport = await run_loop(settings, oww_engine)
    assert transport.turns[0].reason is EndReason.NO_SPEECH
    wake = next(e for e in loop.events if e.kind == "wake")
    ended = next(e for e in loop.events if e.kind == "turn_ended")
    # The pre-roll (the tail of the wake phrase) does not count as speech: the timeout runs
    # from the detection.
    assert ended.audio_seconds - wake.audio_seconds == pytest.approx(3.0, abs=0.05)


def test_refractory_and_trigger_level_debounce(oww_engine: WakeEngine, fixtures: Path) -> None:
    pcm = read_pcm(fixtures / "wake_command.wav")
    twice = pcm + pcm

    def detections(**wake: object) -> list[float]:
        detector = WakeDetector(oww_engine, WakeSettings(names=("hey_jarvis",), **wake))  # type: ignore[arg-type]
        times = []
        for i in range(0, len(twice), 1024):
            found = detector.process(twice[i : i + 1024])
            if found:
                times.append(found.audio_seconds)
        return times

    assert len(detections()) == 2  # the phrase twice, 5.5 s apart
    assert len(detections(refractory_seconds=7.0)) == 1
    assert detections(trigger_level=50) == []  # never 4 s of consecutive high scores
