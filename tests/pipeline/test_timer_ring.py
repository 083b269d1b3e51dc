"""Timers ring on the direct satellite that set them: Wyoming's timer events, then a chime and
the spoken timer, until the satellite's wake word stops it; the real server and real engines."""

from __future__ import annotations

import asyncio
import time

import pytest
from pipeline_helpers import FakeSatellite, TurnResult, heard, speech
from wyoming.audio import AudioStart
from wyoming.event import Event
from wyoming_helpers import normalize

from wyoming_rtx.handle.timers import Timer, TimerManager
from wyoming_rtx.pipeline import bell as bell_module
from wyoming_rtx.pipeline.bell import chime_pcm, ring_sentence

module_loop = pytest.mark.asyncio(loop_scope="module")
"""The module's tests share one server (`app`), so they share its event loop."""


async def _read_until(sat: FakeSatellite, kind: str, timeout: float) -> list[Event]:
    """Events up to and including the first `kind`."""
    events = []
    while True:
        event = await asyncio.wait_for(sat.client.read_event(), timeout)
        assert event is not None, [e.type for e in events]
        events.append(event)
        if event.type == kind:
            return events


async def _set_timer(app, sat: FakeSatellite, text: str) -> tuple[TurnResult, float]:
    """Speak the command; returns the turn and when its answer ended."""
    result = await sat.turn(await speech(app, text))
    assert result.of("handled"), [(e.type, e.data) for e in result.events]
    return result, time.monotonic()


async def _ring(app, sat: FakeSatellite, timeout: float) -> tuple[list[Event], str]:
    """One ring: events up to its audio-stop, and what the ring says (heard back by ASR)."""
    events = await _read_until(sat, "audio-stop", timeout)
    start = AudioStart.from_event(next(e for e in events if e.type == "audio-start"))
    result = TurnResult(events=events)
    return events, normalize(await heard(app, result.audio, start.rate))


async def _nothing_within(sat: FakeSatellite, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        event = await asyncio.wait_for(sat.client.read_event(), seconds)
        pytest.fail(f"unexpected {event.type if event else 'close'}")


@module_loop
async def test_a_timer_rings_on_the_satellite_that_set_it(app) -> None:
    """ "Set a timer for three seconds" in the kitchen: the kitchen satellite is told it started,
    gets timer-finished about 3 s later and then hears the chime and the timer; the office
    satellite hears nothing."""
    async with (
        FakeSatellite(app.listener.port, "kitchen-sat", "Kitchen") as kitchen,
        FakeSatellite(app.listener.port, "office-sat", "Office") as office,
    ):
        result, answered = await _set_timer(app, kitchen, "Set a timer for three seconds.")
        before = [e.type for e in result.events]
        events = await _read_until(kitchen, "timer-finished", 15)
        finished_after = time.monotonic() - answered
        types = before + [e.type for e in events]
        assert "timer-started" in types, types
        started = next(e for e in result.events + events if e.type == "timer-started")
        assert started.data["total_seconds"] == 3
        assert 1.0 < finished_after < 6.0, finished_after
        ring_events, said = await _ring(app, kitchen, 30)
        assert "timer" in said and "3 seconds" in said.replace("three", "3"), said
        chime = AudioStart.from_event(next(e for e in ring_events if e.type == "audio-start"))
        assert chime.rate == app.tts.default_voice.sample_rate
        await kitchen.client.write_event(Event(type="played"))
        await _nothing_within(office, 0.5)
        # The wake word: a new turn stops the ring before its next round.
        rings = app.bell.rings
        await kitchen.turn(await speech(app, "What time is it?"))
        await _nothing_within(kitchen, bell_module.RING_GAP_S + 1.5)
        assert app.bell.rings == rings
    assert not app.bell._ringing


@module_loop
async def test_unstopped_rings_are_bounded(app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody answers: it rings RING_TIMES times, then stops."""
    monkeypatch.setattr(bell_module, "RING_GAP_S", 0.3)
    async with FakeSatellite(app.listener.port, "hall-sat", "Hallway") as hall:
        await _set_timer(app, hall, "Set a timer for two seconds.")
        await _read_until(hall, "timer-finished", 15)
        for _ in range(bell_module.RING_TIMES):
            await _read_until(hall, "audio-stop", 30)
        await _nothing_within(hall, 1.5)


@module_loop
async def test_a_satellite_that_reconnects_still_hears_its_timer(app) -> None:
    """The timer belongs to the satellite's name: a new connection under it gets the ring."""
    async with FakeSatellite(app.listener.port, "bedroom-sat", "Bedroom") as first:
        await _set_timer(app, first, "Set a timer for four seconds.")
    await asyncio.sleep(0.2)
    async with FakeSatellite(app.listener.port, "bedroom-sat", "Bedroom") as again:
        await _read_until(again, "timer-finished", 15)
        _events, said = await _ring(app, again, 30)
        assert "timer" in said, said
        app.bell.silence("bedroom-sat")


@module_loop
async def test_cancel_and_pause_are_told_to_the_satellite(app) -> None:
    """timer-cancelled and timer-updated reach the satellite, as Home Assistant sends them."""
    async with FakeSatellite(app.listener.port, "garage-sat", "Garage") as garage:
        await _set_timer(app, garage, "Set a timer for ten minutes.")
        (timer,) = [t for t in app.assistant.timers.timers if t.satellite_id == "garage-sat"]
        app.assistant.timers.pause(timer)
        updated = (await _read_until(garage, "timer-updated", 10))[-1]
        assert updated.data["is_active"] is False
        app.assistant.timers.cancel(timer)
        cancelled = (await _read_until(garage, "timer-cancelled", 10))[-1]
        assert cancelled.data["id"] == timer.timer_id


def test_ring_sentences_name_the_timer() -> None:
    assert ring_sentence(Timer("t1", 300, name="pasta")) == "The pasta timer is done."
    assert ring_sentence(Timer("t2", 5400)) == "Your timer for 1 hour and 30 minutes is done."
    assert ring_sentence(Timer("t3", 1)) == "Your timer for 1 second is done."


def test_the_chime_is_short_and_audible() -> None:
    pcm = chime_pcm(22050)
    assert 0.4 < len(pcm) / 2 / 22050 < 1.0
    assert (
        max(
            abs(int.from_bytes(pcm[i : i + 2], "little", signed=True))
            for i in range(0, len(pcm), 2)
        )
        > 5000
    )


@module_loop
async def test_a_failing_listener_never_breaks_the_timer() -> None:
    """The satellite side failing (a bug, a closed link) is logged; the timer still runs."""

    def broken(kind: str, timer: Timer) -> None:
        raise RuntimeError("listener bug")

    finished: list[str] = []
    manager = TimerManager(lambda t: finished.append(t.timer_id), on_change=broken)
    timer = manager.start(1)
    await asyncio.sleep(1.3)
    assert finished == [timer.timer_id]
