"""Follow-ups on a direct satellite: an answer that asks something tells the satellite to
listen again without the wake word (`continue_conversation` in the answer's context), and the
reply lands in the same conversation; the real server and engines."""

from __future__ import annotations

import pytest
from pipeline_helpers import FakeSatellite, speech

module_loop = pytest.mark.asyncio(loop_scope="module")


def _lights_on(app, area: str) -> list[str]:
    entities = app.assistant.home.snapshot.entities.values()
    return [
        e.entity_id
        for e in entities
        if e.domain == "light" and e.area_id == area and e.state == "on"
    ]


@module_loop
async def test_which_room_asks_the_satellite_to_listen_again(app) -> None:
    async with FakeSatellite(app.listener.port, "roaming-sat", None) as sat:
        asked = await sat.turn(await speech(app, "Turn on the lights."))
        handled = asked.of("handled")[0]
        assert handled.data["text"] == "Which room?"
        context = handled.data["context"]
        assert context["continue_conversation"] is True
        assert context["conversation_id"] == "satellite-roaming-sat"
        assert not _lights_on(app, "office")
        replied = await sat.turn(await speech(app, "The office."))
        answer = replied.of("handled")[0]
        assert answer.data["context"]["continue_conversation"] is False
        assert _lights_on(app, "office")


@module_loop
async def test_a_plain_answer_does_not_keep_listening(app) -> None:
    async with FakeSatellite(app.listener.port, "kitchen-sat", "Kitchen") as sat:
        result = await sat.turn(await speech(app, "Turn off the kitchen light."))
    assert result.of("handled")[0].data["context"]["continue_conversation"] is False
