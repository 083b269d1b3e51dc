"""Every request gets an answer it can speak, even during start-up or after a failure.

Home Assistant's Wyoming conversation client skips `error` events and has no timeout: a
request that ends in an exception, or that arrives while the intents are still loading,
leaves its pipeline (and the satellite's light ring) waiting forever. So both entries, the
handle service and the direct satellite's turn, take their answers from `answers()`: it waits
a bounded time for start-up, and turns any failure into a short not-handled answer that Home
Assistant shows and speaks, with the traceback in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from .assistant import Assistant
from .request import Answer, HandleRequest

_LOGGER = logging.getLogger(__name__)

STARTUP_WAIT_SECONDS = 15.0
"""How long a request during start-up waits for the intents and the home. Loading them takes
a few seconds; past this a person is better told to try again than kept waiting."""

STARTING_TEXT = "I'm still starting up. Please try again in a moment."
FAILED_TEXT = "Sorry, something went wrong while answering. Please try again."


async def answers(
    assistant: Assistant,
    request: HandleRequest,
    *,
    startup_wait: float = STARTUP_WAIT_SECONDS,
    may_act: asyncio.Event | None = None,
) -> AsyncIterator[str | Answer]:
    """`assistant.answer(request, may_act)`, always ending in exactly one `Answer`.

    Yields the streamed text deltas as they come; after a failure mid-stream the apology
    follows as one more delta, so a caller that speaks deltas says it too."""
    cid = request.conversation_id or assistant.conversations.new_id()
    if not await assistant.wait_started(startup_wait):
        _LOGGER.warning(
            "Request during start-up answered 'still starting' after %.0f s: %r",
            startup_wait,
            request.text,
        )
        yield Answer(STARTING_TEXT, False, "error", None, cid)
        return
    streamed = False
    try:
        async for item in assistant.answer(request, may_act):
            if isinstance(item, Answer):
                yield item
                return
            streamed = True
            yield item
    except Exception:
        _LOGGER.exception("Answering %r failed", request.text)
    else:
        _LOGGER.error("Answering %r ended without an answer", request.text)
    if streamed:
        yield f" {FAILED_TEXT}"
    yield Answer(FAILED_TEXT, False, "error", None, cid)
