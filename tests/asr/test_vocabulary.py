"""The home's names as whisper's prompt (issue 20, point 1): what goes in, in which order,
bounded, rebuilt only when the names change, and that it reaches the decoder."""

from __future__ import annotations

import dataclasses

from wyoming_rtx.asr.vocabulary import (
    MAX_PROMPT_CHARS,
    VocabularyPrompt,
    as_sentence,
    echoes,
    home_vocabulary,
    joined_prompt,
)
from wyoming_rtx.home.model import Area, Entity, Floor, HomeSnapshot


def home(*entities: Entity) -> HomeSnapshot:
    return HomeSnapshot(
        entities={e.entity_id: e for e in entities},
        areas={
            "study": Area("study", "Study", "ground", ("Office",)),
            "nursery": Area("nursery", "Nursery"),
        },
        floors={"ground": Floor("ground", "Ground Floor")},
    )


def test_areas_floors_then_names_then_aliases_once_each() -> None:
    snapshot = home(
        Entity("switch.heater", "Patio Heater", aliases=("the heater",)),
        Entity("light.pendants", "Kitchen  island pendants"),
        Entity("light.study", "study"),  # the same word as an area: said once
    )
    assert home_vocabulary(snapshot) == (
        "Study, Nursery, Ground Floor, Patio Heater, Kitchen island pendants, the heater, "
        "Office."
    )


def test_an_empty_home_gives_no_prompt() -> None:
    assert home_vocabulary(HomeSnapshot()) == ""
    assert joined_prompt(None, "") is None
    assert joined_prompt("  ", "") is None


def test_the_users_prompt_comes_first() -> None:
    assert joined_prompt("Glossary:", "Study, Nursery.") == "Glossary: Study, Nursery."
    assert joined_prompt("Glossary:", "") == "Glossary:"


def test_a_big_home_is_cut_at_the_limit_rooms_first() -> None:
    many = [Entity(f"light.l{i}", f"Reading lamp number {i}") for i in range(200)]
    text = home_vocabulary(home(*many))
    assert len(text) <= MAX_PROMPT_CHARS
    assert text.startswith("Study, Nursery, Ground Floor, Reading lamp number 0,")
    assert text.endswith(".") and "number 199" not in text


def test_rebuilt_only_when_the_names_change() -> None:
    current = home(Entity("light.a", "Aquarium Light"))
    prompt = VocabularyPrompt(lambda: current)
    first = prompt()
    assert "Aquarium Light" in first
    # A state change keeps the names (and their token): the same text object comes back.
    current = dataclasses.replace(current, entities=dict(current.entities))
    current = dataclasses.replace(current, names_token=prompt._token)
    assert prompt() is first
    current = home(Entity("light.b", "Bubble Lamp"))  # new names, new token
    assert "Bubble Lamp" in prompt()


def test_a_transcript_that_reads_back_the_list_is_an_echo() -> None:
    names = "Pantry, Patio, Top Floor, Piano Lamp, Greenhouse Fan, Patio Heater."
    assert echoes("Pantry Piano Lamp, Top Floor, Deeper Fan,", names)  # seen from 8 kHz audio
    assert echoes("Patio Heater, Greenhouse Fan.", names)
    # Real commands name one or two things in a sentence, not a list of them.
    for said in (
        "Turn on the Patio Heater.",
        "Turn on the Patio Heater and the Greenhouse Fan.",
        "Set the Piano Lamp to 40%.",
        "Yes, the Pantry.",
        "Study, please.",
    ):
        assert not echoes(said, names), said
    assert not echoes("Pantry, Patio", "")


def test_the_names_as_a_sentence_keep_acronyms() -> None:
    """The command window's second try: whisper continues its prompt's style."""
    assert as_sentence("Study, Living Room TV, Patio Heater, AC.") == (
        "Study, living room TV, patio heater, AC."
    )
    assert as_sentence("") == ""
