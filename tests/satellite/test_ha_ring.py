"""Home Assistant mode: a timer Home Assistant's timer manager finishes rings on the satellite
five times (as wyoming-satellite does), and the wake word stops the ring at once and starts
Home Assistant's next pipeline run. HA's side is played by the test client of test_ha.py."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from wyoming.timer import TimerFinished, TimerStarted

from satellite.app import HaApp
from satellite.ha_server import TIMER_RING_TIMES
from satellite.settings import SatelliteSettings, SndSettings
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .ha_support import FakeHa, ha_app, satellite_settings
from .test_barge_in import PacedSink


@contextlib.asynccontextmanager
async def _ha_mode(
    oww_engine: WakeEngine, sink: PacedSink
) -> AsyncIterator[tuple[HaApp, QueueMic, FakeHa]]:
    """The satellite in Home Assistant mode with Home Assistant's client connected."""
    mic = QueueMic()
    settings = satellite_settings(
        name="kitchen satellite",
        area="Kitchen",
        snd=SndSettings(awake_wav=None, done_wav=None),
        response_timeout_seconds=SatelliteSettings.response_timeout_seconds,
    )
    app = ha_app(settings, mic, sink, oww_engine)
    port = await app.start()
    task = asyncio.create_task(app.run())
    ha = FakeHa(port)
    try:
        await ha.connect()
        yield app, mic, ha
    finally:
        mic.end()
        await ha.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app.stop()


def _ring_seconds(app: HaApp) -> float:
    with wave.open(str(app.satellite.settings.snd.timer_finished_wav), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def test_a_finished_timer_rings_five_times(oww_engine: WakeEngine) -> None:
    sink = PacedSink()
    async with _ha_mode(oww_engine, sink) as (app, _mic, ha):
        await ha.send(TimerStarted(id="t1", total_seconds=60, name="tea").event())
        await ha.send(TimerFinished(id="t1").event())
        await wait_for(lambda: app.satellite.timers_finished == 1)
        await asyncio.sleep(0.2)
        await wait_for(lambda: not app.satellite.answering, 30)
        one_ring = _ring_seconds(app)
    assert sink.played_seconds == pytest.approx(TIMER_RING_TIMES * one_ring, abs=0.05)
    assert sink.aborted == 0


async def test_the_wake_word_stops_the_ring_and_starts_a_run(
    fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    wake_end = sat_manifest["wake_only.wav"]["wake_end_s"]
    wake = read_pcm(fixtures / "wake_only.wav")[: int((wake_end + 0.25) * 16000) * 2]
    sink = PacedSink()
    async with _ha_mode(oww_engine, sink) as (app, mic, ha):
        await ha.send(TimerFinished(id="t2").event())
        await wait_for(lambda: sink.played_seconds > 0.1)
        mic.feed(wake)
        await wait_for(lambda: "run-pipeline" in ha.types(), 10)
        await wait_for(lambda: not app.satellite.answering, 5)
        stopped_at = sink.played_seconds
        await asyncio.sleep(1.5)
        assert sink.played_seconds == stopped_at, "no ring after the wake word"
        one_ring = _ring_seconds(app)
    # Stopped early: less than the five rings an unstopped timer plays.
    assert stopped_at < (TIMER_RING_TIMES - 1) * one_ring, (stopped_at, one_ring)
