"""Incremental sentence and clause splitting for text that arrives in pieces.

Speech starts when the first sentence is complete, not when the whole answer is: the TTS
engine splits a request into sentences, streaming synthesis feeds `synthesize-chunk` deltas,
and the LLM pipeline feeds token deltas, all through `SentenceSplitter`. Optionally the first
sentence is cut at its first clause boundary so that the first audio is a short phrase.

A boundary is only accepted once the character after it has been seen ("3." may still become
"3.5", "U.S." may still be followed by "Army"); `flush()` treats the end of text as a boundary.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "approx", "dept", "gen",
        "gov", "lt", "col", "sgt", "capt", "rev", "hon", "est", "ave", "blvd", "rd", "fig",
    }
)  # fmt: skip
"""Words that end in a dot without ending the sentence ("Dr. Smith", "Main St. and")."""

_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")
""""U.S", "e.g", "a.m", "F": single letters joined by dots, before the final dot."""

_CLOSERS = "\"'”’)]»」』）"
_CLOSER_CLASS = "[" + re.escape(_CLOSERS) + "]"

_SENTENCE_END = re.compile(
    rf"[.!?…]+{_CLOSER_CLASS}*(?=\s)|[.!?…]+{_CLOSER_CLASS}*\Z"
    rf"|[。！？｡]+{_CLOSER_CLASS}*|\n[ \t]*\n"
)
"""Latin terminators need whitespace (or the end of text) after them; CJK text has no spaces,
so its full-width terminators end a sentence on their own; a blank line ends a paragraph."""

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
    """Index just past the first real sentence terminator in `buffer`."""
    for match in _SENTENCE_END.finditer(buffer):
        if match.end() == len(buffer) and not final and buffer[match.start()] in ".!?…":
            return None  # "3." or "U.S." may continue with the next delta
        if match.group().startswith(".") and _is_abbreviation(buffer[: match.start()]):
            continue
        if match.group().strip() == "":
            return match.start()  # paragraph break: cut before the blank line
        return match.end()
    return None


def _is_abbreviation(before: str) -> bool:
    """True when the dot that follows `before` belongs to an abbreviation, not a sentence end."""
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip(_CLOSERS + "(“‘[")
    return word.lower() in _ABBREVIATIONS or bool(_INITIALISM.match(word))


def _forced_cut(buffer: str, max_chars: int) -> int:
    """Where to cut an over-long run: last clause boundary, else last space, else hard."""
    head = buffer[:max_chars]
    clause_cuts = [m.end() for m in _FORCE_BREAK.finditer(head)]
    if clause_cuts:
        return clause_cuts[-1]
    space = head.rfind(" ")
    return space if space > 0 else max_chars
