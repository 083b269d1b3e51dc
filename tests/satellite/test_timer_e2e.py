"""A timer set by voice on the real satellite rings on it: the real satellite (openwakeword,
silero VAD, direct client) against the real ``python -m wyoming_rtx``, nothing scripted.

"Hey Jarvis, set a timer for two seconds." goes in through the microphone; about two seconds
after the answer the satellite is told ``timer-finished`` and plays the ring the server sends,
which says the timer is done (checked by transcribing the ring as the tap saw it)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStart
from wyoming_helpers import normalize, transcribe

from satellite.app import Seams, run_direct
from satellite.settings import (
    DirectSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    WakeSettings,
)
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .make_fixtures import _load_voice, silence, synthesize
from .test_direct_e2e import Tap, served_server


async def test_a_timer_set_by_voice_rings_on_the_satellite(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    wake_end = sat_manifest["wake_only.wav"]["wake_end_s"]
    wake = read_pcm(fixtures / "wake_only.wav")[: int((wake_end + 0.25) * 16000) * 2]
    command = await asyncio.to_thread(synthesize, _load_voice(), "Set a timer for two seconds.")
    mic = QueueMic()
    settings = SatelliteSettings(
        name="kitchen satellite",
        area="Kitchen",
        mic=MicSettings(file=None),
        snd=SndSettings(file=tmp_path / "played.wav"),
        wake=WakeSettings(names=("hey_jarvis",)),
    )
    async with served_server(tmp_path) as served:
        tap = Tap(served.server.port)
        tap_port = await tap.start()
        task = asyncio.create_task(
            run_direct(
                settings,
                DirectSettings(server_uri=f"tcp://127.0.0.1:{tap_port}"),
                Seams(mic_factory=lambda: mic, engine=oww_engine),
            )
        )
        try:
            await wait_for(lambda: any(e.type == "info" for e in tap.to_server), 20)
            mic.feed(wake + command.tobytes() + silence(1.5).tobytes())
            await wait_for(lambda: any(e.type == "played" for e in tap.to_server), 30)
            answered = time.monotonic()
            await wait_for(lambda: any(e.type == "timer-finished" for e in tap.to_satellite), 15)
            rang_after = time.monotonic() - answered
            await wait_for(lambda: [e.type for e in tap.to_server].count("played") >= 2, 15)
            mic.end()
            run = await asyncio.wait_for(task, 20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await tap.stop()

        handled = [e for e in tap.to_satellite if e.type == "handled"]
        assert handled and handled[0].data["text"] == "Timer set for 2 seconds", handled
        assert any(e.type == "timer-started" for e in tap.to_satellite)
        assert 0.5 < rang_after < 6.0, rang_after
        assert run.client.timers_finished == 1
        # The ring as it went to the satellite: the stream after timer-finished.
        types = [e.type for e in tap.to_satellite]
        after = tap.to_satellite[types.index("timer-finished") :]
        start = AudioStart.from_event(next(e for e in after if e.type == "audio-start"))
        end = next(i for i, e in enumerate(after) if e.type == "audio-stop")
        ring = b"".join(
            AudioChunk.from_event(e).audio for e in after[:end] if e.type == "audio-chunk"
        )
        heard = await transcribe(served.server.port, ring, start.rate, start.width, start.channels)
        assert "timer" in normalize(heard.text) and "done" in normalize(heard.text), heard.text
