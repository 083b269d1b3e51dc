"""Word error rate with a small text normaliser.

Why our own: the peers and we may format the same words differently ("50%" vs "fifty percent",
"Turn on" vs "turn on,"), and a benchmark must not count formatting as recognition errors. The
normaliser lower-cases, drops punctuation, spells out numbers 0-999 and "%" so that both sides of
the comparison are in the same form, then a plain Levenshtein distance over words gives the errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_TOKEN = re.compile(r"\d+|[a-z]+(?:'[a-z]+)?")


def number_words(value: int) -> str:
    """Spell out 0-999 the way the corpus references are written ("twenty one", "one hundred")."""
    if value < 0 or value > 999:
        raise ValueError(f"only 0-999 are spelled out, got {value}")
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    hundreds, rest = divmod(value, 100)
    head = _ONES[hundreds] + " hundred"
    return head if rest == 0 else head + " " + number_words(rest)


def normalize(text: str) -> list[str]:
    """Lower-case words with punctuation removed, digits spelled out and "%" as "percent"."""
    text = text.lower().replace("%", " percent ").replace("-", " ")
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if token.isdigit() and len(token) <= 3:
            words.extend(number_words(int(token)).split())
        else:
            words.append(token)
    return words


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions), two rows of memory."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            cost = 0 if ref_word == hyp_word else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(errors, reference word count) after normalising both texts."""
    ref = normalize(reference)
    return edit_distance(ref, normalize(hypothesis)), len(ref)


def corpus_wer(pairs: Sequence[tuple[str, str]]) -> float:
    """WER over a corpus: total errors / total reference words (not a mean of per-file WERs)."""
    errors = 0
    words = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors += e
        words += n
    if words == 0:
        raise ValueError("corpus has no reference words")
    return errors / words
