"""A wake word with no speech after it (a false wake, a cough, the TV) ends quietly: an empty
transcript, an empty not-handled and an empty audio stream, so the satellite stops waiting and
nobody hears "Sorry, I didn't understand"."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import FakeSatellite

module_loop = pytest.mark.asyncio(loop_scope="module")


@module_loop
async def test_a_turn_without_speech_says_nothing(app) -> None:
    rng = np.random.default_rng(7)
    hum = 0.02 * np.sin(2 * np.pi * 120 * np.arange(16000 * 3) / 16000)
    noise = hum + 0.01 * rng.standard_normal(hum.size)
    pcm = (noise * 32767).astype("<i2").tobytes()
    async with FakeSatellite(app.listener.port, "tv-room-sat", "Living Room") as sat:
        result = await sat.turn(pcm)
    assert [e.data.get("text") for e in result.of("transcript")] == [""]
    assert [e.data.get("text") for e in result.of("not-handled")] == [""]
    assert not result.of("handled") and not result.of("audio-chunk")
    assert result.of("audio-start") and result.of("audio-stop")
    trace = app.pipeline.traces.turns[-1]
    assert (trace.outcome, trace.source, trace.handled) == ("not-handled", "none", False)
