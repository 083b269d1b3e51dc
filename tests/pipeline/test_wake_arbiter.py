"""One wake word heard by two satellites gives one answer, from the one that heard it best:
the real server and engines, two direct satellites streaming one recording in real time at
different levels, as two rooms hear one speaker."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pipeline_helpers import FakeSatellite, speech
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming_helpers import normalize

module_loop = pytest.mark.asyncio(loop_scope="module")
CHUNK = 1600  # 100 ms at 16 kHz


def _scaled(pcm: bytes, gain: float) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * gain
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


async def _paced_turn(sat: FakeSatellite, pcm: bytes, delay: float) -> list[Event]:
    """The satellite wakes `delay` s in, streams the turn as it is spoken, then reads what the
    server answers until the answer audio ends or it is told to stand down."""
    await asyncio.sleep(delay)
    run = RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS)
    await sat.client.write_event(run.event())
    await sat.client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
    audio = pcm + bytes(16000 * 2 // 2)  # 0.5 s of trailing silence
    events: list[Event] = []
    for offset in range(0, len(audio), CHUNK * 2):
        piece = audio[offset : offset + CHUNK * 2]
        await sat.client.write_event(
            AudioChunk(rate=16000, width=2, channels=1, audio=piece).event()
        )
        await asyncio.sleep(0.1)
    await sat.client.write_event(AudioStop().event())
    while True:
        event = await asyncio.wait_for(sat.client.read_event(), 60)
        assert event is not None
        events.append(event)
        if event.type == "audio-stop" or (
            event.type == "error" and event.data.get("code") == "stand-down"
        ):
            return events


def _types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


@module_loop
async def test_the_nearer_satellite_answers_and_the_other_stands_down(app) -> None:
    pcm = await speech(app, "Turn on the hallway light.")
    stood_down = app.pipeline.arbiter.stood_down
    before = {t.turn_id for t in app.pipeline.traces.turns}
    async with (
        FakeSatellite(app.listener.port, "hall-sat", "Hallway") as near,
        FakeSatellite(app.listener.port, "stairs-sat", "Upstairs") as far,
    ):
        await asyncio.sleep(0.1)
        # The far one wakes first (its detection was a little faster), but hears it at a
        # quarter of the level: the near one must still win.
        far_events, near_events = await asyncio.gather(
            _paced_turn(far, _scaled(pcm, 0.25), 0.0),
            _paced_turn(near, pcm, 0.15),
        )
    assert "error" in _types(far_events) and "handled" not in _types(far_events), far_events
    assert far_events[-1].data["code"] == "stand-down"
    assert "audio-chunk" not in _types(far_events)
    assert "handled" in _types(near_events), _types(near_events)
    transcript = next(e for e in near_events if e.type == "transcript")
    assert normalize(transcript.data["text"]) == "turn on the hallway light"
    assert app.pipeline.arbiter.stood_down == stood_down + 1
    new = [t for t in app.pipeline.traces.turns if t.turn_id not in before]
    answered = [t for t in new if t.outcome == "done"]
    assert [t.satellite for t in answered] == ["hall-sat"]
