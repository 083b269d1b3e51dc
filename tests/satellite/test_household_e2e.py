"""The household journeys with real satellites against the real ``python -m wyoming_rtx``:
an announcement spoken on the named satellite, the wake word stopping a timer's ring, and one
answer when two satellites hear one wake word. Nothing is scripted; taps record the wire."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import aiohttp
import numpy as np
from wyoming.event import Event

from satellite.app import Seams, run_direct
from satellite.settings import (
    DirectSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    WakeSettings,
)
from satellite.wake import WakeEngine, make_engine

from .conftest import QueueMic, read_pcm, wait_for
from .make_fixtures import _load_voice, silence, synthesize
from .test_barge_in import PacedSink
from .test_direct_e2e import Served, Tap, served_server


def _settings(name: str, area: str) -> SatelliteSettings:
    return SatelliteSettings(
        name=name,
        area=area,
        mic=MicSettings(file=None),
        snd=SndSettings(file=None, device="none", awake_wav=None, done_wav=None),
        wake=WakeSettings(names=("hey_jarvis",)),
    )


@dataclasses.dataclass
class LiveSatellite:
    """A real satellite (its own wake engine, a fed microphone, a real-time speaker) behind
    a tap to the server."""

    tap: Tap
    mic: QueueMic
    sink: PacedSink
    task: asyncio.Task

    def to_satellite(self, kind: str) -> list[Event]:
        return [e for e in self.tap.to_satellite if e.type == kind]

    def to_server(self, kind: str) -> list[Event]:
        return [e for e in self.tap.to_server if e.type == kind]

    async def close(self) -> None:
        self.mic.end()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.tap.stop()


async def _satellite(served: Served, name: str, area: str, engine: WakeEngine) -> LiveSatellite:
    tap = Tap(served.server.port)
    port = await tap.start()
    mic, sink = QueueMic(), PacedSink()
    task = asyncio.create_task(
        run_direct(
            _settings(name, area),
            DirectSettings(server_uri=f"tcp://127.0.0.1:{port}"),
            Seams(mic_factory=lambda: mic, sink=sink, engine=engine),
        )
    )
    live = LiveSatellite(tap, mic, sink, task)
    await wait_for(lambda: bool(live.to_server("info")), 20)
    return live


def _gain(pcm: bytes, gain: float) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * gain
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


async def test_an_announcement_is_spoken_on_the_named_satellite(
    tmp_path: Path, oww_engine: WakeEngine
) -> None:
    async with served_server(tmp_path) as served:
        kitchen = await _satellite(served, "kitchen satellite", "Kitchen", oww_engine)
        try:
            url = f"http://127.0.0.1:{served.http_port}/api/announce"
            body = {"message": "Dinner is ready.", "satellite": "kitchen satellite"}
            posted = time.monotonic()
            async with aiohttp.ClientSession() as session, session.post(url, json=body) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["announced_on"] == ["kitchen satellite"]
            await wait_for(lambda: bool(kitchen.to_satellite("audio-chunk")), 10)
            first_audio = time.monotonic() - posted
            await wait_for(lambda: bool(kitchen.to_server("played")), 15)
        finally:
            await kitchen.close()
    print(f"announcement: POST -> first audio at the real satellite {first_audio * 1000:.0f} ms")
    assert first_audio < 3.0, first_audio
    assert kitchen.sink.played_seconds > 1.0  # the chime and the sentence were played


async def test_the_wake_word_stops_a_ringing_timer(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    wake_end = sat_manifest["wake_only.wav"]["wake_end_s"]
    wake = read_pcm(fixtures / "wake_only.wav")[: int((wake_end + 0.25) * 16000) * 2]
    command = await asyncio.to_thread(synthesize, _load_voice(), "Set a timer for two seconds.")
    async with served_server(tmp_path) as served:
        sat = await _satellite(served, "kitchen satellite", "Kitchen", oww_engine)
        try:
            sat.mic.feed(wake + command.tobytes() + silence(1.5).tobytes())
            await wait_for(lambda: bool(sat.to_satellite("timer-finished")), 30)
            played = sat.sink.played_seconds
            await wait_for(lambda: sat.sink.played_seconds > played + 0.3, 10)  # it rings
            rings_started = len(sat.to_satellite("audio-start"))
            sat.mic.feed(wake + silence(6.0).tobytes())  # "Hey Jarvis" over the ring
            await wait_for(lambda: len(sat.to_server("run-pipeline")) == 2, 10)
            await asyncio.sleep(5.0)  # longer than the gap between two rings
        finally:
            await sat.close()
    # After the wake word only the new turn's (empty) answer; no further ring, though an
    # unstopped timer rings four times.
    starts_after = len(sat.to_satellite("audio-start")) - rings_started
    assert starts_after <= 1, starts_after
    assert sat.sink.aborted >= 1, "the ring was cut off by the wake word"


async def test_two_satellites_hearing_one_wake_word_give_one_answer(
    tmp_path: Path, fixtures: Path
) -> None:
    spoken = read_pcm(fixtures / "wake_command.wav")
    async with served_server(tmp_path) as served:
        near = await _satellite(
            served, "hall satellite", "Hallway", make_engine(WakeSettings(names=("hey_jarvis",)))
        )
        far = await _satellite(
            served,
            "landing satellite",
            "Upstairs",
            make_engine(WakeSettings(names=("hey_jarvis",))),
        )
        try:
            near.mic.feed(spoken)
            far.mic.feed(_gain(spoken, 0.3))
            await wait_for(lambda: bool(near.to_server("played")), 30)
            await asyncio.sleep(1.0)
        finally:
            await near.close()
            await far.close()
    assert [e.data.get("code") for e in far.to_satellite("error")] == ["stand-down"]
    assert not far.to_satellite("handled") and not far.to_satellite("audio-chunk")
    assert near.to_satellite("handled"), [e.type for e in near.tap.to_satellite]
    assert "turn on the kitchen light" in near.to_satellite("transcript")[0].data["text"].lower()
