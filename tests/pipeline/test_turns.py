"""Direct satellite turns end to end: speech in, state changed, answer audio out."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakes.ollama_server import FakeOllama
from pipeline_helpers import FakeSatellite, TurnResult, heard, make_app, speech
from wyoming.audio import AudioStart
from wyoming.event import Event
from wyoming_helpers import normalize

from wyoming_rtx.pipeline import arbiter as arbiter_module
from wyoming_rtx.pipeline.satellite_session import WyomingTurnOutput
from wyoming_rtx.settings import HandleSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _state(app, entity_id: str) -> str:
    return app.assistant.home.snapshot.entities[entity_id].state


async def test_kitchen_light_turn_changes_state_and_answers(app) -> None:
    pcm = await speech(app, "Turn on the kitchen light.")
    assert _state(app, "light.kitchen_light") == "off"
    async with FakeSatellite(app.listener.port, "kitchen-satellite", "Kitchen") as sat:
        result = await sat.turn(pcm)
    assert normalize(result.of("transcript")[0].data["text"]) == "turn on the kitchen light"
    assert result.of("handled"), [e.type for e in result.events]
    answer_text = result.of("handled")[0].data["text"]
    assert _state(app, "light.kitchen_light") == "on"
    start = AudioStart.from_event(result.of("audio-start")[0])
    spoken = normalize(await heard(app, result.audio, start.rate))
    assert spoken == normalize(answer_text), (spoken, answer_text)
    trace = app.pipeline.traces.turns[-1]
    assert trace.outcome == "done" and trace.source == "local"
    # The turn tried the fast command window first (on a CPU), and kept it or redid it.
    assert app.asr.command_window_kept + app.asr.command_window_redone >= 1
    for stage in ("audio_start", "end_of_speech", "transcript", "answer_text", "first_audio"):
        assert stage in trace.marks


async def test_handled_comes_before_audio_stop_even_when_the_audio_is_ready_first(
    app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A satellite may end its turn at `audio-stop`: the answer's text (and its
    continue_conversation) must come before it, even when all the audio is ready before
    `handled` is written (a draft rendered in the pause, a fast GPU). Writing `handled` is
    held back here so the short answer's audio is ready long before it."""
    original = WyomingTurnOutput.send_answer

    async def slow_send_answer(self, answer) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.5)
        await original(self, answer)

    monkeypatch.setattr(WyomingTurnOutput, "send_answer", slow_send_answer)
    pcm = await speech(app, "Turn off the kitchen light.")
    async with FakeSatellite(app.listener.port, "order-satellite", "Kitchen") as sat:
        result = await sat.turn(pcm)
    kinds = [e.type for e in result.events]
    assert "handled" in kinds, kinds
    assert kinds.index("handled") < kinds.index("audio-stop"), kinds


async def test_voice_stopped_then_audio_stop_is_one_turn_with_one_transcript(app) -> None:
    """Our satellite marks the end of speech with voice-stopped, then sends the trailing
    chunks and audio-stop: all of it belongs to the turn. None of it may reach the plain
    speech-to-text service (which would answer an extra, empty transcript)."""
    pcm = await speech(app, "Turn off the kitchen light.")
    async with FakeSatellite(app.listener.port, "kitchen-satellite", "Kitchen") as sat:
        result = await sat.turn(pcm, trailing_silence=0.5, voice_stopped=True)
        await sat.client.write_event(Event(type="ping", data={}))
        pong = await asyncio.wait_for(sat.client.read_event(), 10)
    types = [event.type for event in result.events]
    assert types.count("transcript") == 1, types
    assert "transcript-start" not in types and "error" not in types, types
    assert normalize(result.of("transcript")[0].data["text"]) == "turn off the kitchen light"
    assert pong is not None and pong.type == "pong", "nothing else may be queued after it"
    assert _state(app, "light.kitchen_light") == "off"


async def test_two_satellites_in_different_areas_at_once(app) -> None:
    pcm = await speech(app, "Turn on the lights.")
    before_living = (
        _state(app, "light.living_room_lamp")
        if "light.living_room_lamp" in (app.assistant.home.snapshot.entities)
        else None
    )
    async with (
        FakeSatellite(app.listener.port, "bedroom-sat", "Bedroom") as bedroom,
        FakeSatellite(app.listener.port, "office-sat", "Office") as office,
    ):
        # Two people, two rooms, turns overlapping: the wake words are further apart than the
        # arbitration window (one wake word heard twice gives one answer: test_wake_arbiter).
        async def later(sat: FakeSatellite, delay: float) -> TurnResult:
            await asyncio.sleep(delay)
            return await sat.turn(pcm)

        results = await asyncio.gather(
            bedroom.turn(pcm), later(office, arbiter_module.WINDOW_S + 0.2)
        )
    for result in results:
        assert result.of("handled"), [e.type for e in result.events]
    entities = app.assistant.home.snapshot.entities.values()
    lights = {e.entity_id: e for e in entities if e.domain == "light"}
    areas_on = {e.area_id for e in lights.values() if e.state == "on"}
    assert {"bedroom", "office"} <= areas_on
    if before_living is not None:
        assert _state(app, "light.living_room_lamp") == before_living


class TimedOllama(FakeOllama):
    """Records when each chat stream really ended."""

    def __init__(self) -> None:
        super().__init__()
        self.finished_at: list[float] = []

    async def _chat(self, request):  # type: ignore[no-untyped-def]
        response = await super()._chat(request)
        self.finished_at.append(time.monotonic())
        return response


LLM_ANSWER = (
    "Paris is the capital of France. It sits on the river Seine, and it is famous for its "
    "museums, its cafes and the Eiffel Tower."
)


async def test_llm_answer_audio_starts_before_the_llm_finishes() -> None:
    async with TimedOllama() as ollama:
        ollama.token_delay = 0.05
        ollama.queue_reply(f"{LLM_ANSWER} {LLM_ANSWER} {LLM_ANSWER}")
        llm_app = await make_app(HandleSettings(ollama_url=ollama.url))
        try:
            pcm = await speech(llm_app, "What is the capital of France?")
            async with FakeSatellite(llm_app.listener.port, "hall-sat", "Hallway") as sat:
                result = await sat.turn(pcm)
            assert ollama.requests, "the question must have gone to the LLM"
            assert result.first_audio_at is not None and ollama.finished_at
            trace = llm_app.pipeline.traces.turns[-1].to_dict()["ms_after_end_of_speech"]
            assert result.first_audio_at < ollama.finished_at[0] - 1.0, (
                f"first audio must leave well before the LLM stream ends: {trace}"
            )
            start = AudioStart.from_event(result.of("audio-start")[0])
            spoken = normalize(await heard(llm_app, result.audio, start.rate))
            assert "capital of france" in spoken and "eiffel" in spoken
            assert llm_app.pipeline.traces.turns[-1].source == "llm"
        finally:
            await llm_app.stop()


async def test_satellite_vanishing_mid_answer_leaves_nothing_running() -> None:
    async with TimedOllama() as ollama:
        ollama.token_delay = 0.1
        ollama.queue_reply(LLM_ANSWER + " " + LLM_ANSWER)
        llm_app = await make_app(HandleSettings(ollama_url=ollama.url))
        try:
            pcm = await speech(llm_app, "What is the capital of France?")
            sat = FakeSatellite(llm_app.listener.port, "gone-sat", "Garage")
            await sat.__aenter__()
            await sat.send_turn(pcm)
            while True:  # wait for the first answer audio, then vanish
                event = await asyncio.wait_for(sat.client.read_event(), 60)
                assert event is not None
                if event.type == "audio-chunk":
                    break
            assert sat.client._writer is not None
            sat.client._writer.transport.abort()
            await asyncio.sleep(1.0)
            names = {t.get_name() for t in asyncio.all_tasks()}
            assert not any(n.startswith(("turn ", "turn speaker")) for n in names), names
            assert all(not c.active_tasks for c in llm_app.listener.connections.values())
            assert "gone-sat" not in llm_app.pipeline.satellites
            assert llm_app.pipeline.traces.turns[-1].outcome == "cancelled"
            assert not ollama.finished_at or ollama.finished_at[0] > 0  # stream was cut
        finally:
            await llm_app.stop()
