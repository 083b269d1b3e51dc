"""Which room? A command that needs a room, from a speaker that has none.

"turn on the lights" means the lights of the room the satellite is in: home-assistant-intents
writes such sentences to require the speaker's area, so from a speaker with none (a phone, the
web page, a satellite not yet put in a room) Home Assistant's own agent matches nothing and
answers that it did not understand. This server recognises the command without the area
(`IntentMatcher.match_needing_area`). When its targets all lie in one room (the home's only
thermostat) it just runs it; otherwise the `Assistant` asks "Which room?" and holds the command
on the conversation, in the slot and with the expiry a confirmation uses
(`ConversationStore.set_pending`). The next turn runs it in the area or floor it names ("the
kitchen", "in the living room", "upstairs"); any other reply is a new request.

This module only reads the reply and fills the slot; the `Assistant` does the asking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from ..home.model import HomeSnapshot
from .intents import IntentMatch

_LEAD = frozenset(
    {"in", "on", "at", "to", "for", "the", "my", "our", "its", "it's", "inside", "um", "uh", "oh"}
)
"""Words before the room in a short reply ("in the kitchen", "it's the lounge"); English."""
_TAIL = frozenset({"please", "thanks", "thank", "you", "area", "room", "floor"})
"""Words after it ("the kitchen please", "the office area"); tried with and without, so an
area really called "Play Room" still matches whole."""


def _words(text: str) -> list[str]:
    """Lower-case words without punctuation ("The kitchen, please." -> the kitchen please)."""
    return re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'")).split()


def _phrases(words: list[str]) -> Iterator[str]:
    """The reply, then the reply with its lead and tail words taken off, longest first."""
    starts = [0]
    while starts[-1] < len(words) and words[starts[-1]] in _LEAD:
        starts.append(starts[-1] + 1)
    ends = [len(words)]
    while ends[-1] > 0 and words[ends[-1] - 1] in _TAIL:
        ends.append(ends[-1] - 1)
    spans = sorted(((s, e) for s in starts for e in ends if s < e), key=lambda se: se[0] - se[1])
    for start, end in spans:
        yield " ".join(words[start:end])


def place_in_reply(reply: str, home: HomeSnapshot) -> tuple[str, str] | None:
    """("area", name) or ("floor", name) when the whole reply names one of the home's areas or
    floors (by name or alias); None for anything else, which then is a new request.

    Only whole replies count: "turn off the kitchen light" names the kitchen too, but it is a
    command of its own, not an answer to "Which room?"."""
    for phrase in _phrases(_words(reply)):
        area = home.area_named(phrase)
        if area is not None:
            return "area", area.name
        floor = home.floor_named(phrase)
        if floor is not None:
            return "floor", floor.name
    return None


def with_place(match: IntentMatch, place: tuple[str, str]) -> IntentMatch:
    """The held command with the named area (or floor) in its slots, as if it had been said
    there: exactly what a satellite in that room would have sent."""
    slot, name = place
    return replace(
        match,
        slots={**match.slots, slot: name},
        speech_slots={**match.speech_slots, slot: name},
    )
