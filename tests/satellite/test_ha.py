"""Home Assistant satellite mode, driven by a test client playing HA's part (DESIGN §3)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from wyoming.audio import AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerFinished, TimerStarted

from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .ha_support import FakeHa, RecordingSink, ha_app, running_ha_app, satellite_settings


@pytest.fixture
async def ha_satellite(tmp_path: Path, oww_engine: WakeEngine):
    mic = QueueMic()
    sink = RecordingSink()
    app = ha_app(satellite_settings(area="Hall"), mic, sink, oww_engine)
    async with running_ha_app(app, mic) as port:
        yield app, port, mic, sink


async def test_home_assistant_drives_the_satellite(
    ha_satellite, fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="satellite")
    app, port, mic, sink = ha_satellite
    wake_pcm = read_pcm(fixtures / "wake_command.wav")

    # HA's set-up probe: describe only, on its own connection; it must not take ownership.
    probe = await AsyncTcpClient("127.0.0.1", port).__aenter__()
    await probe.write_event(Describe().event())
    info = Info.from_event(await asyncio.wait_for(probe.read_event(), 5))
    await probe.disconnect()
    assert info.satellite is not None and info.satellite.installed
    assert (info.satellite.name, info.satellite.area) == ("hall satellite", "Hall")
    assert info.satellite.has_vad and info.satellite.active_wake_words == [
        "hey_jarvis",
        "ok_nabu",
        "alexa",
    ]
    assert info.asr == [] and info.tts == [] and info.handle == []
    assert app.satellite.owner is None

    ha = FakeHa(port)
    await ha.connect()
    await ha.send(Ping(text="ha").event())
    await wait_for(lambda: "pong" in ha.types() and "info" in ha.types(), timeout=5)
    assert ha.first("pong").data.get("text") == "ha"

    # A turn: detection, run-pipeline, audio, audio-stop at the local end of speech.
    mic.feed(wake_pcm)
    await wait_for(lambda: "audio-stop" in ha.types())
    turn = [t for t in ha.types() if t not in ("pong", "info")]
    assert turn[:3] == ["detection", "run-pipeline", "audio-start"]
    assert ha.first("detection").data["name"] == "hey_jarvis"
    run = ha.first("run-pipeline").data
    assert (run["start_stage"], run["end_stage"]) == ("asr", "tts")
    assert set(turn[3:-1]) == {"audio-chunk"} and turn[-1] == "audio-stop"
    assert AudioStart.from_event(ha.first("audio-start")).rate == 16000

    # The 22050 Hz answer is played, then "played" is sent. It plays through the speaker
    # the "done" sound held open, after as much of that sound as had played.
    await ha.answer(seconds=0.3)
    await wait_for(lambda: "played" in ha.types())
    answer, done = 2 * int(22050 * 0.3), 2 * int(22050 * 0.22)
    assert any(answer <= len(p) <= answer + done for p in sink.playbacks), sink.playbacks
    assert app.satellite.transcripts == ["turn on the kitchen light"]

    # Paused: the wake word is heard but nothing goes to HA.
    await ha.send(PauseSatellite().event())
    await wait_for(lambda: "paused the satellite" in caplog.text)
    before = ha.types().count("detection")
    mic.feed(wake_pcm)
    await wait_for(lambda: "Home Assistant has paused the satellite" in caplog.text)
    assert ha.types().count("detection") == before

    # Running again; an HA error ends the turn and the satellite listens again.
    await ha.send(RunSatellite().event())
    await asyncio.sleep(0.05)
    mic.feed(wake_pcm)
    await wait_for(lambda: ha.types().count("audio-stop") == 2)
    await ha.send(Error(text="No text recognized", code="stt-no-text-recognized").event())
    await wait_for(lambda: app.satellite.errors != [])
    assert not app.satellite.busy
    assert "stt-no-text-recognized" in caplog.text

    # Timers: logged; a finished timer plays its sound.
    plays = len(sink.playbacks)
    await ha.send(TimerStarted(id="t1", total_seconds=60, name="tea").event())
    await ha.send(TimerFinished(id="t1").event())
    await wait_for(lambda: app.satellite.timers_finished == 1 and len(sink.playbacks) > plays)
    assert "Timer t1 started" in caplog.text

    # HA reconnects as its _connect() does: it closes the old connection and opens a new one at
    # once. The new one owns the satellite even if its first event is read before the old end.
    old_owner = app.satellite.owner
    await ha.close()
    ha2 = FakeHa(port)
    await ha2.connect()
    await ha2.send(Ping(text="ha2").event())
    await wait_for(lambda: "pong" in ha2.types(), timeout=5)
    assert app.satellite.owner is not None and app.satellite.owner is not old_owner
    assert "error" not in ha2.types()
    mic.feed(wake_pcm)
    await wait_for(lambda: "audio-stop" in ha2.types())
    assert "detection" in ha2.types()
    await ha2.answer(seconds=0.1)
    await wait_for(lambda: "played" in ha2.types())
    await ha2.close()


async def test_no_answer_times_out_and_wake_works_again(ha_satellite, fixtures: Path) -> None:
    app, port, mic, _sink = ha_satellite
    wake_pcm = read_pcm(fixtures / "wake_command.wav")
    ha = FakeHa(port)
    await ha.connect()
    await wait_for(lambda: app.satellite.owner is not None and app.satellite.owner.running)
    mic.feed(wake_pcm)
    await wait_for(lambda: "audio-stop" in ha.types())
    assert app.satellite.busy
    # HA never answers; after response_timeout_seconds (2 s here) the satellite listens again.
    await wait_for(lambda: not app.satellite.busy, timeout=5)
    mic.feed(wake_pcm)
    await wait_for(lambda: ha.types().count("detection") == 2)
    await ha.close()
