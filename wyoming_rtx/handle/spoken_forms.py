"""How people say a command beyond the intents' templates: hesitation sounds between the
words, and a device's name with its last word in the other number.

Whisper writes a hesitation out ("Turn on the, um, espresso grinder"), and Home Assistant's
sentences have no room for it, so the command went to the LLM. And people say "the kitchen
island pendant" for a device named "Kitchen Island Pendants", "the string light" for "String
Lights". Home Assistant's own agent forgives this with fuzzy matching; hassil, which we match
with, takes extra skip words and extra slot values: the hesitations (whose words, per language,
are `audio.transcript_cues.hesitation_words`, which also reads a pause ending on one as more
to come) and the names' variants, given here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..language import primary_language

SlotValue = tuple[str, Any, dict[str, Any]]
"""(the words spoken, the value they stand for, context), as hassil's TextSlotList takes them."""


def other_number(name: str, language: str) -> str | None:
    """`name` with its last word's number flipped ("String Lights" -> "String Light",
    "Desk Lamp" -> "Desk Lamps"), or None: English only, names of two words or more (a
    one-word name in the other number reads as a device class: "the lights"), and a last word
    of letters only."""
    if primary_language(language) != "en":
        return None
    words = name.split()
    if len(words) < 2 or not words[-1].isalpha() or len(words[-1]) < 3:
        return None
    last = words[-1]
    lower = last.casefold()
    if lower.endswith("ies") and len(lower) > 4:
        flipped = last[:-3] + "y"
    elif lower.endswith(("ches", "shes", "sses", "xes")):
        flipped = last[:-2]
    elif lower.endswith(("ss", "us", "is", "as", "os")):
        return None  # "Glass", "Status", "Gas", "Sonos": no plural to undo
    elif lower.endswith("s"):
        flipped = last[:-1]
    elif lower.endswith(("ch", "sh", "x")):
        flipped = last + "es"
    elif lower.endswith("y") and lower[-2] not in "aeiou":
        flipped = last[:-1] + "ies"
    else:
        flipped = last + "s"
    return " ".join([*words[:-1], flipped])


def name_variants(
    names: Iterable[SlotValue], taken: Iterable[str], language: str
) -> list[SlotValue]:
    """A slot value for each (spoken name, name, context) in `names` whose spoken name in the
    other number is no name, alias, area or floor in `taken`, nor the other number of a
    different name: a home with both "Kitchen Light" and "Kitchen Lights" gets no variant, so
    one is never taken for the other. Two devices of one name (a "Desk Lamp" in two rooms)
    share theirs, as they share the name."""
    taken_keys = {_key(text) for text in taken}
    variants: list[SlotValue] = []
    meant: dict[str, set[object]] = {}
    for text, value, context in names:
        variant = other_number(text, language)
        if variant is None or _key(variant) in taken_keys:
            continue
        variants.append((variant, value, context))
        meant.setdefault(_key(variant), set()).add(value)
    return [entry for entry in variants if len(meant[_key(entry[0])]) == 1]


def _key(text: str) -> str:
    return " ".join(text.casefold().split())
