"""Incremental sentence and clause splitting for text that arrives in pieces.

Speech starts when the first sentence is complete, not when the whole answer is: the TTS
engine splits a request into sentences, streaming synthesis feeds `synthesize-chunk` deltas,
and the LLM pipeline feeds token deltas, all through `SentenceSplitter`. Optionally the first
sentence is cut at its first clause boundary so that the first audio is a short phrase.

A boundary is only accepted once the text after it that decides it has been seen: "3." may
still become "3.5", "U.S." may be followed by "Army", and after a dot the first letter of the
next word is awaited (a lowercase one means the sentence goes on: "bzw. die", "etc. en la").
`flush()` treats the end of text as a boundary.

Why not sentence-stream (the package wyoming-piper uses, 1.3.0): both were run on 35 cases
(abbreviations, numbers, URLs, lists, quotes, German, French, Spanish) streamed in random 1-6
character deltas. It got 18 right, this module 34 (24 before its German, French, Spanish and
list rules were added; the one left is the lowercase trade-off in `_dot_ends_sentence`). It
can be fed deltas and costs about the same per delta (1.9 us against 2.4 us on a 616-character
answer; 3.2 us here with the first-clause and 160-character rules on), but its boundaries cost
speech time:
- it only ends a sentence before a capital letter, so "It is warm. 25 degrees", 'He left.
  "Bye"' and Spanish "¿Qué hora es? ¡Son las diez!" stay one piece;
- any capitalised word of 1-3 letters before a dot counts as an abbreviation, and that sentence
  is held back and merged with the next one: "Yes.", "the TV.", "Bob.", "in May.", "10 Uhr."
  all delay their audio by a whole sentence ("Yes. The kitchen light is on. I turned off the
  TV. ..." gave its first piece after 31 characters instead of 6, the third after 85, not 52);
- it strips markdown asterisks, so its output is not the input text, and it keeps no length
  cap: its buffer grows with a run-on answer and every delta rescans it (33 us per delta on a
  5,500-character run-on, 5 us here, where a run never exceeds `max_chars`).
These are its boundary rules themselves, which no wrapper can mend, and laying the first-clause
and length rules over it would mean reaching into its private buffer.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "approx", "dept", "gen",
        "gov", "lt", "col", "sgt", "capt", "rev", "hon", "est", "ave", "blvd", "rd", "fig",
        "nr", "ca", "bzw", "vgl", "inkl", "evtl", "ggf", "tel", "sra", "srta", "dra", "ud",
        "uds", "mme", "mlle", "env", "cf",
    }
)  # fmt: skip
"""Words that end in a dot without ending the sentence ("Dr. Smith", "Nr. 5", "Sra. Gómez"),
even before a capital or a digit; before a lowercase word no dot ends a sentence anyway, so
"etc." and "usw." are left out: they often do end one."""

_ENDS_BEFORE_CAPITAL = frozenset({"a.m", "p.m"})
"""Initialisms that end the sentence when a capital follows ("at 10 p.m. Then we")."""

_MONTHS = frozenset(
    {
        "januar", "jänner", "februar", "märz", "april", "mai", "juni", "juli", "august",
        "september", "oktober", "november", "dezember",
    }
)  # fmt: skip
"""German dates write the day as an ordinal with a dot: "am 3. Oktober" is one sentence."""

_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")
""""U.S", "e.g", "a.m", "F": single letters joined by dots, before the final dot."""

_CLOSERS = "\"'”’)]»」』）"
_CLOSER = "(?:[" + re.escape(_CLOSERS) + "]|[ \u00a0\u202f]+»)"
"""A closing quote or bracket; French sets a space before "»" ("« bonjour. »")."""

_LIST_ITEM = r"(?:\d{1,3}[.)]|[-*•])[ \t]"

_SENTENCE_END = re.compile(
    rf"[.!?…]+{_CLOSER}*(?=\s|\Z)|[。！？｡]+{_CLOSER}*|\n[ \t]*\n|\n(?=[ \t]*{_LIST_ITEM})"
)
"""Latin terminators need whitespace (or the end of text) after them; CJK text has no spaces,
so its full-width terminators end a sentence on their own; a blank line ends a paragraph and a
line break before a list item ("1. ", "- ") ends the line, so every item is its own piece."""

_LIST_NUMBER = re.compile(r"(?:\A|\n)[ \t]*\d{1,3}\Z")
"""Text before a dot that makes the dot a list number ("\n2. Eggs"), not a sentence end."""

_DAY = re.compile(r"(?<!\S)\d{1,2}\Z")
"""A day number before a dot, which a month name after it makes a German date."""

_WORD = re.compile(r"\w+")

_CLAUSE_END = re.compile(r"[,;:](?=\s)|(?<=\s)[-–—](?=\s)|[–—]")
"""Comma/semicolon/colon before whitespace (not "3,000" or "10:30"), a spaced hyphen, or a dash."""

_FORCE_BREAK = re.compile(r"[,;:](?=\s)")


class SentenceSplitter:
    """Cuts streamed text into speakable sentences as soon as each one is complete."""

    def __init__(
        self,
        *,
        first_clause: bool = False,
        min_clause_words: int = 4,
        max_chars: int = 400,
    ) -> None:
        """Set up an empty splitter.

        first_clause: cut the first sentence at its first clause boundary (, ; : dash) when the
        clause has at least `min_clause_words` words, so the first audio comes sooner.
        max_chars: no segment is longer: a run of text this long with no boundary, or a
        sentence longer than this, is cut at its last clause boundary or space before it, so a
        rambling LLM answer cannot hold back all audio and no synthesis run is unbounded.
        """
        self.first_clause = first_clause
        self.min_clause_words = min_clause_words
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = False

    def add(self, text: str) -> list[str]:
        """Append a delta; return the sentences completed by it (possibly none)."""
        self._buffer += text
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """Return everything still buffered as sentences and reset for the next text."""
        segments = self._drain(final=True)
        rest = self._buffer.strip()
        if rest:
            segments.append(rest)
        self._buffer = ""
        self._emitted = False
        return segments

    def _drain(self, final: bool) -> list[str]:
        """Take every complete segment off the front of the buffer."""
        segments: list[str] = []
        while True:
            cut = self._next_cut(final)
            if cut is None:
                return segments
            segment = self._buffer[:cut].strip()
            self._buffer = self._buffer[cut:].lstrip()
            if segment:
                segments.append(segment)
                self._emitted = True

    def _next_cut(self, final: bool) -> int | None:
        """Index where the first complete segment ends, or None when there is none yet."""
        buffer = self._buffer
        sentence_end = _find_sentence_end(buffer, final)
        if self.first_clause and not self._emitted:
            clause_end = self._find_clause_end(buffer, sentence_end)
            if clause_end is not None and clause_end <= self.max_chars:
                return clause_end
        if sentence_end is not None and sentence_end <= self.max_chars:
            return sentence_end
        if len(buffer) > self.max_chars:
            # No boundary yet, or a sentence longer than the cap: either way the synthesizer
            # must never get one run longer than max_chars (its memory grows with the run).
            return _forced_cut(buffer, self.max_chars)
        return None

    def _find_clause_end(self, buffer: str, limit: int | None) -> int | None:
        """First clause boundary before `limit` whose clause is long enough to stand alone."""
        for match in _CLAUSE_END.finditer(buffer):
            if limit is not None and match.end() >= limit:
                return None
            if match.end() >= len(buffer):
                return None  # the character after the dash is not known yet
            if len(buffer[: match.start()].split()) >= self.min_clause_words:
                return match.end()
        return None


def _find_sentence_end(buffer: str, final: bool) -> int | None:
    """Index just past the first real sentence terminator in `buffer`.

    None also when a terminator is found but the text after it that decides whether it ends
    the sentence has not arrived yet; `final` says no more text will come.
    """
    for match in _SENTENCE_END.finditer(buffer):
        group = match.group()
        if group.strip() == "":
            return match.start()  # paragraph or list item: cut before the line break
        if group[0] not in ".!?…":
            return match.end()  # CJK terminators end a sentence whatever follows
        rest = buffer[match.end() :].lstrip()
        if not rest:
            # "3." may become "3.5", "U.S." may be followed by "Army", "on." by "it's": the
            # first character of the next word decides.
            return match.end() if final else None
        if group[0] in "!?":
            return match.end()
        verdict = _dot_ends_sentence(buffer[: match.start()], rest, final)
        if verdict is None:
            return None
        if verdict:
            return match.end()
    return None


def _dot_ends_sentence(before: str, after: str, final: bool) -> bool | None:
    """Whether a dot (or "…") between `before` and `after` ends a sentence; None: undecided.

    `after` starts at the next non-space character. A lowercase word after the dot means the
    sentence goes on ("bzw. die", "etc. en la", "Well… maybe"): this catches abbreviations no
    list names, at the cost of merging the rare real sentence an LLM starts in lowercase.
    """
    if after[0].islower():
        return False
    word = _last_word(before)
    if word.lower() in _ENDS_BEFORE_CAPITAL:
        return after[0].isupper()
    if _is_abbreviation(word) or _LIST_NUMBER.search(before):
        return False
    next_word = _WORD.match(after)
    if next_word is None or not _DAY.search(before):
        return True
    name = next_word.group().lower()
    if next_word.end() == len(after) and not final:
        # "am 3. Okt" may still become "am 3. Oktober"
        return None if any(month.startswith(name) for month in _MONTHS) else True
    return name not in _MONTHS


def _last_word(before: str) -> str:
    """The word in front of a dot, without opening quotes or brackets."""
    words = before.split()
    return words[-1].lstrip(_CLOSERS + "(“‘[«") if words else ""


def _is_abbreviation(word: str) -> bool:
    """True when a dot after `word` belongs to an abbreviation, not a sentence end."""
    return word.lower() in _ABBREVIATIONS or bool(_INITIALISM.match(word))


def _forced_cut(buffer: str, max_chars: int) -> int:
    """Where to cut an over-long run: last clause boundary, else last space, else hard."""
    head = buffer[:max_chars]
    clause_cuts = [m.end() for m in _FORCE_BREAK.finditer(head)]
    if clause_cuts:
        return clause_cuts[-1]
    space = head.rfind(" ")
    return space if space > 0 else max_chars
