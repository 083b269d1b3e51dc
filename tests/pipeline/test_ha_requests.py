"""How Home Assistant's separate requests are joined into turns (logic only, no server)."""

from __future__ import annotations

import asyncio

from wyoming_rtx.handle.request import Answer
from wyoming_rtx.pipeline.ha_requests import MAX_PENDING, HomeAssistantTurns
from wyoming_rtx.pipeline.trace import TraceLog


def recorded(traces: TraceLog) -> list[tuple[str, str, str]]:
    """(service, outcome, entry) of every finished request, in order."""
    seen: list[tuple[str, str, str]] = []
    traces.subscribe_requests(
        lambda trace, service, outcome, _s: seen.append((service, outcome, trace.entry))
    )
    return seen


def answer(text: str, handled: bool = True) -> Answer:
    return Answer(text=text, handled=handled, source="local", conversation_id="c1")


async def test_three_requests_make_one_turn() -> None:
    traces = TraceLog()
    seen = recorded(traces)
    turns = HomeAssistantTurns(traces)
    stt = turns.speech_to_text()
    stt.end_of_speech()
    stt.transcript("Turn on the lamp")
    convo = turns.conversation("turn on the  lamp", "c1", "kitchen-satellite", None)
    convo.answer(answer("Turned on the lamp"))
    speech = turns.text_to_speech("Turned on the lamp")
    speech.first_audio()
    speech.done()
    assert [t.turn_id for t in traces.turns] == [stt.trace.turn_id]
    trace = traces.turns[0]
    assert trace is convo.trace is speech.trace
    assert trace.satellite == "kitchen-satellite" and trace.outcome == "done"
    assert seen == [(s, "ok", "home-assistant") for s in ("asr", "handle", "tts")]
    assert turns.pending == 0


async def test_a_streamed_answer_joins_the_conversation_still_answering() -> None:
    traces = TraceLog()
    turns = HomeAssistantTurns(traces)
    convo = turns.conversation("what is the weather", "c2", None, None)
    speech = turns.text_to_speech(None)  # the LLM streams: speech starts before the answer
    speech.first_audio()
    speech.done()
    assert not traces.turns  # the answer is not in yet
    convo.answer(answer("It is sunny.", handled=True))
    assert len(traces.turns) == 1 and traces.turns[0] is speech.trace
    assert traces.turns[0].outcome == "done"


async def test_unmatched_requests_start_their_own_turns_and_waiting_stages_expire() -> None:
    traces = TraceLog()
    turns = HomeAssistantTurns(traces, window=0.05)
    stt = turns.speech_to_text()
    stt.transcript("play some music")  # another conversation agent takes it from here
    lone = turns.text_to_speech("Dinner is ready")
    lone.done()
    assert [t.requests for t in traces.turns] == [{"tts": "ok"}]
    await asyncio.sleep(0.15)
    assert [t.transcript for t in traces.turns] == ["", "play some music"]
    assert turns.pending == 0


async def test_a_not_understood_answer_is_not_done() -> None:
    traces = TraceLog()
    turns = HomeAssistantTurns(traces)
    convo = turns.conversation("turn on the attic light", "c3", None, None)
    convo.answer(answer("Sorry, I am not aware of any area called attic", handled=False))
    turns.text_to_speech("Sorry, I am not aware of any area called attic").done()
    assert traces.turns[0].outcome == "not-handled"


async def test_failures_and_hang_ups_end_the_turn_once() -> None:
    traces = TraceLog()
    seen = recorded(traces)
    turns = HomeAssistantTurns(traces)
    stt = turns.speech_to_text()
    stt.failed(RuntimeError("decoder broke"))
    stt.cancelled()  # later events of the same request change nothing
    speech = turns.text_to_speech("Hello")
    speech.cancelled()
    assert [(t.outcome, t.error) for t in traces.turns] == [
        ("error", "RuntimeError: decoder broke"),
        ("cancelled", None),
    ]
    assert seen == [("asr", "error", "home-assistant"), ("tts", "cancelled", "home-assistant")]


async def test_waiting_turns_are_bounded() -> None:
    traces = TraceLog()
    turns = HomeAssistantTurns(traces)
    for n in range(MAX_PENDING + 10):
        turns.speech_to_text().transcript(f"command {n}")
    assert turns.pending == MAX_PENDING
    assert len(traces.turns) == 10  # the oldest ended where they were
