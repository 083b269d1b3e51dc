"""Commands said beyond the templates: hesitations whisper writes out, a name's other number."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from tests.handle.helpers import ask
from wyoming_rtx.audio.transcript_cues import hesitation_words
from wyoming_rtx.handle import Assistant, IntentMatcher
from wyoming_rtx.handle.spoken_forms import name_variants, other_number
from wyoming_rtx.home.home_file import DEMO_HOME, parse_home


@pytest.mark.parametrize(
    ("name", "flipped"),
    [
        ("String Lights", "String Light"),
        ("Kitchen Island Pendants", "Kitchen Island Pendant"),
        ("Desk Lamp", "Desk Lamps"),
        ("Hall Switches", "Hall Switch"),
        ("Hall Switch", "Hall Switches"),
        ("Bay Window Blinds", "Bay Window Blind"),
        ("Party Lights Battery", "Party Lights Batteries"),
        ("Party Batteries", "Party Battery"),
        ("Lamp", None),  # one word: "the lamps" is a class of devices, not this one
        ("Porch Light 2", None),
        ("Glass", None),
        ("Kids Bus", None),
        ("Garage Status", None),
        ("Kitchen Sonos", None),
        ("Boiler Gas", None),
        ("Car Keys", "Car Key"),
    ],
)
def test_other_number_in_english(name: str, flipped: str | None) -> None:
    assert other_number(name, "en-US") == flipped


def test_no_variants_in_other_languages() -> None:
    assert other_number("Wohnzimmer Lampe", "de") is None
    assert hesitation_words("de-DE") and hesitation_words("xx") == frozenset()


def test_a_variant_never_stands_for_another_name() -> None:
    names = [
        ("Kitchen Light", "Kitchen Light", {"domain": "light"}),
        ("Kitchen Lights", "Kitchen Lights", {"domain": "light"}),
        ("Desk Lamp", "Desk Lamp", {"domain": "light", "n": 1}),
        ("Desk Lamp", "Desk Lamp", {"domain": "light", "n": 2}),
        ("Tall Lamp", "Tall Lamp", {"domain": "light"}),
        ("Tall Lamps", "Floor Uplighter", {"domain": "light"}),  # another device's alias
        ("Garden Pump", "Garden Pump", {"domain": "switch"}),
        ("garden pump", "garden pump", {"domain": "switch"}),  # another device, one letter off
    ]
    taken = [text for text, _, _ in names]
    # Both kitchen names are real, and "Tall Lamps" is an alias: none gets the other's number.
    # "Garden Pumps" would stand for two names: left out. Two devices called "Desk Lamp"
    # share "Desk Lamps", as they share their name.
    assert name_variants(names, taken, "en") == [
        ("Desk Lamps", "Desk Lamp", {"domain": "light", "n": 1}),
        ("Desk Lamps", "Desk Lamp", {"domain": "light", "n": 2}),
    ]


@pytest.fixture
def demo_snapshot():
    text = resources.files("wyoming_rtx.home").joinpath(DEMO_HOME).read_text(encoding="utf-8")
    return parse_home(yaml.safe_load(text))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Turn on the, um, coffee maker.", "Coffee Maker"),
        ("Turn on the Umm Coffee Maker.", "Coffee Maker"),
        ("turn off the uh desk lamp", "Desk Lamp"),
        ("Turn on the kitchen spot.", "Kitchen Spots"),
        ("turn on the, er, kitchen spot", "Kitchen Spots"),
    ],
)
def test_hesitations_and_the_other_number_match(
    en_matcher: IntentMatcher, demo_snapshot, text: str, name: str
) -> None:
    match = en_matcher.match(text, demo_snapshot)
    assert match is not None and match.slots.get("name") == name, match


def test_a_real_match_wins_over_a_variant(en_matcher: IntentMatcher, demo_snapshot) -> None:
    """ "the kitchen lights" is the kitchen's lights (the area), not "Kitchen Light" alone."""
    match = en_matcher.match("turn on the kitchen lights", demo_snapshot)
    assert match is not None
    assert match.slots.get("area") == "Kitchen" and "name" not in match.slots, match


def test_questions_stay_unmatched(en_matcher: IntentMatcher, demo_snapshot) -> None:
    for text in ("Um, what is the capital of Australia?", "How far away is the, uh, moon?"):
        assert en_matcher.match(text, demo_snapshot) is None


async def test_a_hesitant_command_acts_locally(file_assistant: Assistant) -> None:
    deltas, answer = await ask(file_assistant, "Turn on the, um, kitchen spot.")
    assert answer.handled and answer.source == "local", answer
    assert file_assistant.home.snapshot.entities["light.kitchen_spots"].state == "on"
