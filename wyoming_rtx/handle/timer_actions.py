"""Runs the timer intents against the `TimerManager` and words their answers.

Split from `actions` so the home intents and the timer intents each read on their own; the
answers still come from `IntentExecutor`'s renderer (passed in as `say` and `error`), so a
timer's reply is worded exactly like any other intent's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from .intents import IntentMatch
from .timers import TimerManager

TIMER_INTENTS = frozenset(
    {
        "HassStartTimer",
        "HassCancelTimer",
        "HassCancelAllTimers",
        "HassTimerStatus",
        "HassPauseTimer",
        "HassUnpauseTimer",
    }
)
"""The timer intents this server runs itself (for direct satellites)."""

Answer = TypeVar("Answer")
"""What the executor's renderers make (`actions.Outcome`): this module only passes it on, so
it needs nothing from `actions`, which imports it."""


def _timer_seconds(slots: dict[str, Any]) -> int:
    """Whole seconds in the hours/minutes/seconds slots; 0 when none gives a usable duration.

    Slots come from sentences ("half") and from LLM tool calls (any value), so bad ones are
    skipped rather than raised."""
    total = 0.0
    for key, scale in (("hours", 3600), ("minutes", 60), ("seconds", 1)):
        value = slots.get(key)
        if value in ("half", "1/2"):
            value = 0.5 if key == "hours" else 30
        if value is not None:
            try:
                total += float(value) * scale
            except (TypeError, ValueError, OverflowError):
                continue
    # A duration no clock can hold (an LLM's 10**400 hours, "inf") is no duration at all.
    return int(total) if math.isfinite(total) else 0


def run_timer_intent(
    timers: TimerManager,
    match: IntentMatch,
    say: Callable[[IntentMatch, dict[str, Any], bool], Answer],
    error: Callable[[str, IntentMatch], Answer],
    conversation_id: str | None,
    area: str | None,
    satellite_id: str | None = None,
) -> Answer:
    """Start, find, cancel, pause or resume timers as `match` asks, and answer.

    `say` (match, extra response slots, success) and `error` (error response key, match) are
    the executor's renderers, so the wording stays in one place.
    area, conversation_id, satellite_id: where a started timer belongs and rings."""
    slots = match.slots
    name = match.intent
    if name == "HassStartTimer":
        seconds = _timer_seconds(slots)
        if seconds <= 0:
            return error("handle_error", match)
        label = str(slots["name"]).strip() if slots.get("name") else None
        timers.start(
            seconds,
            name=label,
            area=area,
            conversation_id=conversation_id,
            satellite_id=satellite_id,
        )
        return say(match, {}, True)
    if name == "HassTimerStatus":
        status = timers.find(name=slots.get("name"), area=slots.get("area"))
        return say(match, {"timers": status}, True)
    start = _timer_seconds(
        {k.replace("start_", ""): v for k, v in slots.items() if k.startswith("start_")}
    )
    found = timers.find(name=slots.get("name"), area=slots.get("area"), start_seconds=start or None)
    if not found:
        return error("timer_not_found", match)
    if name == "HassCancelAllTimers":
        for timer in found:
            timers.cancel(timer)
        return say(match, {"canceled": len(found)}, True)
    if len(found) > 1:
        return error("multiple_timers_matched", match)
    if name == "HassCancelTimer":
        timers.cancel(found[0])
    elif name == "HassPauseTimer":
        timers.pause(found[0])
    elif name == "HassUnpauseTimer":
        timers.resume(found[0])
    else:
        return error("handle_error", match)
    return say(match, {}, True)
