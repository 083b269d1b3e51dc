"""Small helpers shared by the handle tests."""

from __future__ import annotations

from wyoming_rtx.handle import Answer, Assistant, HandleRequest


async def ask(assistant: Assistant, text: str, **kwargs: object) -> tuple[list[str], Answer]:
    """Run one request; return the streamed deltas and the final Answer (exactly one)."""
    deltas: list[str] = []
    answers: list[Answer] = []
    async for item in assistant.answer(HandleRequest(text, **kwargs)):  # type: ignore[arg-type]
        if isinstance(item, Answer):
            answers.append(item)
        else:
            assert not answers, "no delta may follow the Answer"
            deltas.append(item)
    assert len(answers) == 1
    return deltas, answers[0]
