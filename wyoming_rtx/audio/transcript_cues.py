"""What a pause's transcript says about the end of a turn: cut off, a command's start, a question.

The end-of-turn judgment (``endpoint.pause_wait``) weighs these with Smart Turn; the draft
answer (``pipeline/answer_run.py``) is not started on a text that reads as more to come; and
the speech-to-text picks the second decode's window by whether the text asks a question
(``asr/command_window.py``). They read whisper's text only, never audio, so each is a pure
function of a string (English word lists; other languages: punctuation, and the hesitation
words of those listed).
"""

from __future__ import annotations

HESITATION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "hmm", "mm"}),
    "de": frozenset({"äh", "ähm", "öh", "öhm", "hm", "hmm"}),
    "fr": frozenset({"euh", "heu", "hum"}),
    "nl": frozenset({"eh", "ehm", "uh", "uhm", "hm"}),
    "es": frozenset({"eh", "em", "mmm"}),
    "it": frozenset({"ehm", "uhm", "mmm"}),
}
"""The hesitation sounds whisper writes out as words ("Turn on the, um, espresso grinder"):
a pause that ends on one has more to come, and the intents skip them like "please"
(handle/intents.py)."""

_TRAILING_OFF = ("...", "…", ",", "-", ";", ":")
"""Whisper writes a voice that trails off mid-sentence with these at the end."""

_DANGLING_EN = frozenset(
    "the a an to and or but of for with at from by into my your our their his her its this "
    "these those some any".split()
)
"""English words a finished sentence does not end on ("Turn on the ...", "set it to ...")."""

_COMMAND_VERBS_EN = frozenset(
    "turn switch set open close shut lock unlock dim brighten raise lower start stop pause "
    "resume activate cancel".split()
)
"""How the home's commands begin: a sentence that starts so but is no command yet is most
likely unfinished ("Set the bedroom ... lamp to fifty percent")."""


_WH_WORDS_EN = frozenset("what who whom whose where when why how which".split())

_BARE_VERBS_EN = frozenset(
    "is are was were do does did can could will would should has have".split()
)
"""Verbs an English question does not end on straight after its question phrase: "How far
away is?" and "What is?" have lost their subject ("... the moon?"), while "Do you know what
time it is?" ends on one after it."""

_QUESTION_PHRASE_EN = _WH_WORDS_EN | frozenset("far away much many long old big often".split())
"""The words a question phrase ends on ("how far away", "how much", "which"): the word
before a bare verb that has no subject in between."""

_QUESTION_WORDS_EN = (
    _WH_WORDS_EN | _BARE_VERBS_EN - {"has", "have"} | frozenset("shall may might".split())
)
"""How an English question begins ("What is ...", "Can dogs ..."); whisper's question mark
is the other sign, and the only one in other languages."""


def spoken_words(text: str) -> list[str]:
    """The words of a transcript, lower case, without punctuation (whisper's choice between
    two decodes of the same speech, not the speaker's)."""
    return "".join(c if c.isalnum() or c in " '" else " " for c in text.lower()).split()


def _primary(language: str | None) -> str:
    """The language's primary subtag ("en-US", "en_GB" -> "en"); English when none is given.
    As `wyoming_rtx.language.primary_language`, which this package does not import: the
    satellite loads only `wyoming_rtx.audio` of the server's code."""
    return (language or "").strip().replace("_", "-").split("-")[0].lower() or "en"


def hesitation_words(language: str | None) -> frozenset[str]:
    """The hesitation words of `language` (none for a language not listed)."""
    return HESITATION_WORDS.get(_primary(language), frozenset())


def looks_unfinished(text: str, language: str | None = "en") -> bool:
    """The transcript reads as cut off: trailing-off punctuation, a hesitation as its last
    word ("What is the capital of um"), and in English a last word no sentence ends on
    ("the", "to", "and") or a question that stops at its verb ("How far away is?", whisper's
    question mark notwithstanding). Other languages: the punctuation and the hesitations
    only."""
    stripped = text.strip()
    if not stripped or stripped.endswith(_TRAILING_OFF):
        return True
    words = spoken_words(stripped)
    if not words or words[-1] in hesitation_words(language):
        return True
    if _primary(language) != "en":
        return False
    return words[-1] in _DANGLING_EN or _question_without_subject(words)


def _question_without_subject(words: list[str]) -> bool:
    """An English question that ends on a bare verb right after its question phrase."""
    return (
        len(words) >= 2
        and words[0] in _WH_WORDS_EN
        and words[-1] in _BARE_VERBS_EN
        and words[-2] in _QUESTION_PHRASE_EN
    )


def starts_a_command(text: str, language: str | None = "en") -> bool:
    """The text opens like a command ("Turn on the", "Set the bedroom"), though the home did
    not understand it as one: more is likely to come, or a name was misheard."""
    words = spoken_words(text)
    return _primary(language) == "en" and bool(words) and words[0] in _COMMAND_VERBS_EN


def asks_a_question(text: str, language: str | None = "en") -> bool:
    """The text reads as a question: it ends with a question mark, or in English opens
    with a question word or an auxiliary verb ("How far ...", "Is it ...")."""
    stripped = text.strip()
    if stripped.endswith(("?", "？")):
        return True
    words = spoken_words(stripped)
    return _primary(language) == "en" and bool(words) and words[0] in _QUESTION_WORDS_EN


def more_to_come(text: str, language: str | None = "en") -> bool:
    """A pause's text that the judgment waits on (it reads as cut off, or as a command's
    start): the speaker will likely go on, so nothing is started on it yet (a draft answer,
    pipeline/answer_run.py)."""
    return looks_unfinished(text, language) or starts_a_command(text, language)
