"""The server ends a direct satellite's turn when the utterance is complete (issue 19).

Real engines, real TCP, audio paced at real time as a microphone delivers it, followed by
room noise: the client plays a satellite that never ends the turn itself, so whatever ends
it is the server's decision, told by ``voice-stopped``. The trace says why it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pipeline_helpers import FakeSatellite, _ready, hesitant, paced_turn, speech

from wyoming_rtx.app import App
from wyoming_rtx.audio.turn_model import find_bundled_turn_model
from wyoming_rtx.settings import AsrSettings, HandleSettings, ServerSettings, TtsSettings

module_loop = pytest.mark.asyncio(loop_scope="module")
needs_model = pytest.mark.skipif(
    find_bundled_turn_model() is None,
    reason="Smart Turn is not installed (script/setup installs pipecat-ai --no-deps)",
)


async def _app(end_of_turn: str, turn_model: str) -> App:
    app = App(
        ServerSettings(
            uri="tcp://127.0.0.1:0", zeroconf=False, end_of_turn=end_of_turn, turn_model=turn_model
        ),
        AsrSettings(),
        TtsSettings(noise_scale=0.0, noise_w_scale=0.0),
        HandleSettings(),
    )
    await app.start()
    await asyncio.wait_for(_ready(app), 180)
    return app


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def smart() -> AsyncIterator[App]:
    app = await _app("smart", "auto")
    yield app
    await app.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def no_model() -> AsyncIterator[App]:
    app = await _app("smart", "none")
    yield app
    await app.stop()


@module_loop
@needs_model
async def test_a_complete_command_ends_at_its_first_pause(smart: App) -> None:
    pcm = await speech(smart, "Turn on the living room light.")
    turn = await paced_turn(smart.listener.port, pcm, "ends-early")
    kinds = turn.kinds()
    assert kinds.index("voice-started") < kinds.index("voice-stopped") < kinds.index("transcript")
    trace = smart.pipeline.traces.turns[-1]
    assert trace.end_of_turn == "complete", trace
    assert trace.source == "local" and trace.handled, trace
    # Ended well before any silence rule could have (the server's fallback waits 2 s).
    assert turn.stopped_after is not None
    assert turn.stopped_after - turn.speech_seconds < 1.2, turn.stopped_after


@module_loop
@needs_model
async def test_a_hesitation_mid_command_is_waited_for(smart: App) -> None:
    pcm = await hesitant(smart, "Turn on the", "living room light.", pause=0.9)
    turn = await paced_turn(smart.listener.port, pcm, "hesitates")
    # Not cut off at the pause: the turn ran past the end of the second half.
    assert turn.stopped_after is not None and turn.stopped_after > turn.speech_seconds
    assert "living room light" in turn.text("transcript").lower(), turn.text("transcript")
    judgments = smart.pipeline.traces.turns[-1]
    assert judgments.end_of_turn in ("complete", "silence"), judgments


@module_loop
@needs_model
async def test_a_question_ends_when_the_model_calls_it_complete(smart: App) -> None:
    pcm = await speech(smart, "What is the capital of France?")
    turn = await paced_turn(smart.listener.port, pcm, "asks")
    trace = smart.pipeline.traces.turns[-1]
    assert "capital of france" in turn.text("transcript").lower()
    assert trace.end_of_turn in ("complete", "silence"), trace
    if trace.end_of_turn == "silence":  # the model said "unfinished": the 2 s rule ended it
        assert turn.stopped_after is not None
        assert turn.stopped_after - turn.speech_seconds >= 1.9


@module_loop
async def test_without_the_model_a_command_still_ends_early(no_model: App) -> None:
    assert no_model.pipeline.turn_model is None
    pcm = await speech(no_model, "Turn off the bedroom lamp.")
    turn = await paced_turn(no_model.listener.port, pcm, "no-model-command")
    trace = no_model.pipeline.traces.turns[-1]
    assert trace.end_of_turn == "complete" and trace.handled, trace
    assert turn.stopped_after is not None
    assert turn.stopped_after - turn.speech_seconds < 1.2, turn.stopped_after


@module_loop
async def test_without_the_model_a_question_waits_for_the_silence_rule(no_model: App) -> None:
    pcm = await speech(no_model, "What is the capital of France?")
    turn = await paced_turn(no_model.listener.port, pcm, "no-model-question")
    trace = no_model.pipeline.traces.turns[-1]
    assert trace.end_of_turn == "silence", trace
    assert turn.stopped_after is not None
    assert turn.stopped_after - turn.speech_seconds >= 0.7, turn.stopped_after


@module_loop
async def test_satellite_mode_leaves_the_end_to_the_satellite() -> None:
    app = await _app("satellite", "none")
    try:
        pcm = await speech(app, "Turn on the living room light.")
        async with FakeSatellite(app.listener.port, "own-rule", "Living Room") as sat:
            result = await sat.turn(pcm, trailing_silence=0.6)
        kinds = [e.type for e in result.events]
        assert "voice-started" not in kinds and "voice-stopped" not in kinds, kinds
        assert app.pipeline.traces.turns[-1].end_of_turn == "client"
    finally:
        await app.stop()
