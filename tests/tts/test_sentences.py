"""SentenceSplitter: strings in, sentences out (no audio)."""

from __future__ import annotations

import random

import pytest

from wyoming_rtx.tts.sentences import SentenceSplitter


def split(text: str, **kwargs: object) -> list[str]:
    """Whole text at once, then flush."""
    splitter = SentenceSplitter(**kwargs)  # type: ignore[arg-type]
    return [*splitter.add(text), *splitter.flush()]


def split_by_char(text: str, **kwargs: object) -> list[str]:
    """One character per delta, the worst case of token streaming."""
    splitter = SentenceSplitter(**kwargs)  # type: ignore[arg-type]
    out: list[str] = []
    for char in text:
        out += splitter.add(char)
    return out + splitter.flush()


def test_sentence_ends() -> None:
    assert split("The light is on. Is the door locked? Yes! Wait… Okay") == [
        "The light is on.",
        "Is the door locked?",
        "Yes!",
        "Wait…",
        "Okay",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith is in. Call him.", ["Dr. Smith is in.", "Call him."]),
        ("Use e.g. a lamp. Or not.", ["Use e.g. a lamp.", "Or not."]),
        ("It is 3.5 degrees. Cold.", ["It is 3.5 degrees.", "Cold."]),
        ("Made in the U.S. by Mr. Jones.", ["Made in the U.S. by Mr. Jones."]),
        ("At 5 p.m. we eat. Then sleep.", ["At 5 p.m. we eat.", "Then sleep."]),
        ("Version 2.0.1 is out. Update.", ["Version 2.0.1 is out.", "Update."]),
        ("John F. Kennedy spoke. Then left.", ["John F. Kennedy spoke.", "Then left."]),
    ],
)
def test_abbreviations_and_numbers_do_not_split(text: str, expected: list[str]) -> None:
    assert split(text) == expected
    assert split_by_char(text) == expected


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split('He said "go." Then (he left.) Done') == [
        'He said "go."',
        "Then (he left.)",
        "Done",
    ]


def test_cjk_terminators_need_no_space() -> None:
    assert split("你好。我是乔！你呢？") == ["你好。", "我是乔！", "你呢？"]


def test_paragraph_break_ends_a_segment() -> None:
    assert split("Shopping list\n\nMilk and eggs") == ["Shopping list", "Milk and eggs"]


def test_deltas_split_mid_word_give_the_same_sentences() -> None:
    text = "The kitchen light is on. The temperature is 21.5 degrees. Goodnight."
    assert split_by_char(text) == split(text)
    splitter = SentenceSplitter()
    assert splitter.add("The kitch") == []
    assert splitter.add("en light is on") == []
    assert splitter.add(". The tem") == ["The kitchen light is on."]
    assert splitter.add("perature is 21.") == []
    assert splitter.add("5 degrees.") == []  # the next character is not known yet
    assert splitter.add(" Good") == ["The temperature is 21.5 degrees."]
    assert splitter.flush() == ["Good"]


def test_a_dot_at_the_end_of_a_delta_waits_for_the_next_character() -> None:
    splitter = SentenceSplitter()
    assert splitter.add("It costs 3.") == []
    # The space is not enough: a lowercase word would continue the sentence.
    assert splitter.add("99 dollars. ") == []
    assert splitter.add("T") == ["It costs 3.99 dollars."]


def test_flush_returns_the_rest_and_resets() -> None:
    splitter = SentenceSplitter(first_clause=True)
    assert splitter.add("No terminator here") == []
    assert splitter.flush() == ["No terminator here"]
    assert splitter.flush() == []
    # After a flush the next text is a new answer: its first clause is split again.
    assert splitter.add("When you get home tonight, the heating will be on. ") == [
        "When you get home tonight,"
    ]
    assert splitter.flush() == ["the heating will be on."]


def test_whitespace_only_gives_nothing() -> None:
    assert split("   \n\t ") == []
    assert split("") == []


def test_first_clause_split_only_when_long_enough() -> None:
    text = "If you leave the window open, the heating will run all night. Close it, please."
    assert split(text, first_clause=True) == [
        "If you leave the window open,",
        "the heating will run all night.",
        "Close it, please.",  # only the first sentence is cut
    ]
    assert split(text) == [
        "If you leave the window open, the heating will run all night.",
        "Close it, please.",
    ]
    # "Sure," is too short to be spoken on its own.
    assert split("Sure, the light is on now.", first_clause=True) == ["Sure, the light is on now."]
    assert split_by_char(text, first_clause=True) == split(text, first_clause=True)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("The forecast for today: sunny and warm.", "The forecast for today:"),
        ("The lights in the hall - all of them - are off.", "The lights in the hall -"),
        ("Four of the lights—all upstairs—are on.", "Four of the lights—"),
        ("The living room lamps; also the fan.", "The living room lamps;"),
    ],
)
def test_first_clause_boundaries(text: str, first: str) -> None:
    assert split(text, first_clause=True)[0] == first


def test_numbers_and_times_are_not_clause_boundaries() -> None:
    text = "The meter reads 3,000 units at 10:30 today."
    assert split(text, first_clause=True) == [text]


def test_over_long_run_is_cut_at_a_clause_or_space() -> None:
    text = "one two three four five six, seven eight nine ten eleven twelve"
    assert split(text, max_chars=40) == [
        "one two three four five six,",
        "seven eight nine ten eleven twelve",
    ]
    assert split("aaaa bbbb cccc dddd", max_chars=12) == ["aaaa bbbb", "cccc dddd"]
    assert split("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_a_finished_sentence_longer_than_the_cap_is_cut_too() -> None:
    """A full stop far away must not let one 5,000-character run reach the synthesizer."""
    text = " ".join(["word"] * 1000) + ". Next one."
    segments = split(text, max_chars=50)
    assert max(len(segment) for segment in segments) <= 50
    assert " ".join(segments) == text
    assert segments[-1] == "Next one."


def test_a_first_clause_longer_than_the_cap_is_cut_too() -> None:
    text = " ".join(["word"] * 100) + ", and the rest."
    segments = split(text, first_clause=True, max_chars=60)
    assert max(len(segment) for segment in segments) <= 60
    assert " ".join(segments) == text


def split_by_deltas(text: str, seed: int, **kwargs: object) -> list[str]:
    """Random deltas of 1-6 characters, the size of LLM tokens."""
    rng = random.Random(seed)
    splitter = SentenceSplitter(**kwargs)  # type: ignore[arg-type]
    out: list[str] = []
    start = 0
    while start < len(text):
        size = rng.randint(1, 6)
        out += splitter.add(text[start : start + size])
        start += size
    return out + splitter.flush()


STREAMED_CASES = [
    # English abbreviations, numbers, URLs, quotes
    ("Dr. Smith is in. Call him.", ["Dr. Smith is in.", "Call him."]),
    ("At 10 p.m. we eat. Then sleep.", ["At 10 p.m. we eat.", "Then sleep."]),
    ("We eat at 10 p.m. Then we sleep.", ["We eat at 10 p.m.", "Then we sleep."]),
    (
        "He joined the U.S. Army in May. Then he left.",
        ["He joined the U.S. Army in May.", "Then he left."],
    ),
    ("Yes. The kitchen light is on now.", ["Yes.", "The kitchen light is on now."]),
    ("I turned off the TV. The lights are next.", ["I turned off the TV.", "The lights are next."]),
    ("It is warm today. 25 degrees at noon.", ["It is warm today.", "25 degrees at noon."]),
    ('He left. "Bye," he said.', ["He left.", '"Bye," he said.']),
    ("Well… maybe not. Okay.", ["Well… maybe not.", "Okay."]),
    (
        "Visit example.com/docs today. Then call https://x.org/a.b?q=1. Done.",
        ["Visit example.com/docs today.", "Then call https://x.org/a.b?q=1.", "Done."],
    ),
    (
        "The meter reads 3,000 units at 10:30. It costs $4.99. Fine.",
        ["The meter reads 3,000 units at 10:30.", "It costs $4.99.", "Fine."],
    ),
    # Lists: every item is its own piece, its number is no sentence end
    ("You need:\n1. Milk\n2. Eggs\n3. Bread", ["You need:", "1. Milk", "2. Eggs", "3. Bread"]),
    ("You need:\n- Milk\n- Eggs", ["You need:", "- Milk", "- Eggs"]),
    (
        "Steps:\n1. Open the app.\n2. Tap Lights.\n3. Done.",
        ["Steps:", "1. Open the app.", "2. Tap Lights.", "3. Done."],
    ),
    # German
    (
        "Das ist z.B. gut. Dr. Müller kommt um 10 Uhr. Danke.",
        ["Das ist z.B. gut.", "Dr. Müller kommt um 10 Uhr.", "Danke."],
    ),
    ("Er kommt am 3. Oktober. Bis dann.", ["Er kommt am 3. Oktober.", "Bis dann."]),
    (
        "Heute ist der 24. Dezember. Frohe Weihnachten!",
        ["Heute ist der 24. Dezember.", "Frohe Weihnachten!"],
    ),
    ("Das ist Nr. 5 im Regal. Gut.", ["Das ist Nr. 5 im Regal.", "Gut."]),
    ("Licht bzw. Lampe usw. sind an. Gut.", ["Licht bzw. Lampe usw. sind an.", "Gut."]),
    ("Milch, Eier usw. Dann gehen wir.", ["Milch, Eier usw.", "Dann gehen wir."]),
    # French
    ("Bonjour ! Ça va ? Oui.", ["Bonjour !", "Ça va ?", "Oui."]),
    (
        "M. Dupont a dit « bonjour. » Puis il est parti.",
        ["M. Dupont a dit « bonjour. »", "Puis il est parti."],
    ),
    ("Il fait 20 degrés. Éteins la lampe.", ["Il fait 20 degrés.", "Éteins la lampe."]),
    # Spanish
    (
        "¿Qué hora es? ¡Son las diez! Sra. García llega.",
        ["¿Qué hora es?", "¡Son las diez!", "Sra. García llega."],
    ),
    (
        "Hay leche, huevos, etc. en la nevera. Bien.",
        ["Hay leche, huevos, etc. en la nevera.", "Bien."],
    ),
]


@pytest.mark.parametrize(("text", "expected"), STREAMED_CASES)
def test_boundaries_in_streamed_deltas(text: str, expected: list[str]) -> None:
    assert split(text) == expected
    assert split_by_char(text) == expected
    for seed in range(5):
        assert split_by_deltas(text, seed) == expected


def test_a_lowercase_word_after_a_dot_continues_the_sentence() -> None:
    """Unknown abbreviations are caught this way; an LLM rarely starts a sentence in lowercase."""
    assert split("The light is on. it is bright.") == ["The light is on. it is bright."]
    assert split("Really? yes.") == ["Really?", "yes."]  # only a dot is ambiguous


def test_a_german_date_waits_for_the_whole_month() -> None:
    splitter = SentenceSplitter()
    assert splitter.add("Er kommt am 3. Okt") == []
    assert splitter.add("ober. Bis") == ["Er kommt am 3. Oktober."]
    assert splitter.flush() == ["Bis"]
    assert splitter.add("Born on May 3. M") == []  # "M" could still become "Mai"
    assert splitter.add("y sister") == ["Born on May 3."]


LLM_ANSWER = (
    "Sure, I turned off the kitchen light and set the thermostat to 21.5 degrees, "
    "as Dr. Smith suggested, e.g. for the night. The forecast for tomorrow: sunny, "
    "with a high of 25 degrees and a light breeze from the west after 10 a.m. "
    "and then, because the heating in the hall and the living room and the bedroom "
    "kept running while nobody was at home and the windows were open all afternoon, "
    "the energy use went up by 3,000 watt-hours, which is about 40 percent more than "
    "on a normal day in October or November when everyone is at home and the windows "
    "stay closed. Anything else?"
)


@pytest.mark.parametrize("seed", range(5))
def test_streamed_llm_answer_keeps_the_first_clause_and_length_rules(seed: int) -> None:
    segments = split_by_deltas(LLM_ANSWER, seed, first_clause=True, max_chars=160)
    assert (
        segments[0]
        == "Sure, I turned off the kitchen light and set the thermostat to 21.5 degrees,"
    )
    assert segments[1].startswith("as Dr. Smith suggested, e.g. for the night.")
    assert max(len(segment) for segment in segments) <= 160
    assert " ".join(segments) == LLM_ANSWER
    assert segments[-1] == "Anything else?"
    assert segments == split(LLM_ANSWER, first_clause=True, max_chars=160)
