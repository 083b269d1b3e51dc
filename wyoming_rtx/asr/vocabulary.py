"""The home's names as whisper's prompt, so "patio heater" is not heard as "padded okeyboard".

Whisper reads its prompt as text said just before the audio, and leans towards its words and
spellings: the names of the exposed entities, areas and floors (from Home Assistant or the
home file) become that prompt, with the user's own ``--initial-prompt`` first. It is rebuilt
only when the names change (``HomeSnapshot.names_token``), and bounded: whisper keeps at most
223 prompt tokens, and every prompt token costs decode time on a CPU.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..home.model import HomeSnapshot
    from .decoded import Decoded

_LOGGER = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 400
"""About 100 tokens: room for the areas, floors and the first few dozen entity names."""


def home_vocabulary(snapshot: HomeSnapshot, limit: int = MAX_PROMPT_CHARS) -> str:
    """Areas, floors, then entity names (aliases after all names), once each, as a list
    whisper reads like a sentence; empty for an empty home. Past `limit` the rest is left out
    (areas first: a command names a room more often than any one device)."""
    seen: set[str] = set()
    names: list[str] = []
    groups: list[list[str]] = [
        [area.name for area in snapshot.areas.values()],
        [floor.name for floor in snapshot.floors.values()],
        [entity.name for entity in snapshot.entities.values()],
        [alias for entity in snapshot.entities.values() for alias in entity.aliases],
        [alias for area in snapshot.areas.values() for alias in area.aliases],
    ]
    length = 0
    for group in groups:
        for name in group:
            clean = " ".join(name.split())
            key = clean.casefold()
            if not clean or key in seen:
                continue
            if length + len(clean) + 2 > limit:
                return _sentence(names)
            seen.add(key)
            names.append(clean)
            length += len(clean) + 2
    return _sentence(names)


def _sentence(names: list[str]) -> str:
    return ", ".join(names) + "." if names else ""


def as_sentence(names: str) -> str:
    """The names list as one plain sentence: lower case but for acronyms ("TV"), capitalised
    once. Whisper continues its prompt's style, and a list of capitalised names sometimes
    makes it write a list of titles where a command was said: "Luck, Mudroom Door." for
    "Lock the mudroom door", "Espresso Mudroom Door Locked." for "Is the mudroom door
    locked?", "TUR, NON, THE DEE, YOU, MIDDIFIR." for a slow "Turn on the dehumidifier".
    Written as a sentence, the same names gave those commands, but split others the list
    keeps whole ("turn on the green house" for the *Greenhouse Fan*), so the command window
    tries this form only after the list's text is no command (command_window.py)."""
    plain = " ".join(word if _acronym(word) else word.lower() for word in names.split(" "))
    return plain[:1].upper() + plain[1:]


def _acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def joined_prompt(user_prompt: str | None, vocabulary: str) -> str | None:
    """The user's prompt, then the home's names; None when both are empty."""
    parts = [part.strip() for part in (user_prompt or "", vocabulary) if part and part.strip()]
    return " ".join(parts) or None


def echoes(text: str, vocabulary: str) -> bool:
    """The transcript reads back the prompt's list instead of what was said ("Pantry Piano
    Lamp, Top Floor, Deeper Fan," from 8 kHz audio): two or more of its comma-separated parts
    are made of the list's words only, and they are most of it."""
    if not vocabulary or "," not in text:
        return False
    words = set(_key(vocabulary).split())
    parts = [_key(part).split() for part in text.split(",") if _key(part)]
    listed = sum(all(word in words for word in part) for part in parts)
    return listed >= 2 and listed * 2 >= len(parts)


def _key(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


async def decode_with_names(
    run: Callable[[str | None], Awaitable[Decoded]], user_prompt: str | None, names: str
) -> Decoded:
    """Decode with the home's names in the prompt (`run(prompt)` decodes the audio), and
    again without them where they are known to mislead whisper:

    - the transcript reads the list back (`echoes`): the plain decode is the transcript;
    - whisper failed on the decode (avg_logprob under -1.0) and is in doubt whether it heard
      speech (`SegmentScore.doubtful`: no_speech_prob over 0.3): is there speech at all? The
      names are text whisper takes as said just before the audio, so it expects speech and
      writes words into babble it would otherwise skip (speech_gate.py). Without them its
      own rule (both silence signals) decides, as it does for wyoming-faster-whisper, which
      never prompts: skipped (faster-whisper then returns no text), the transcript is empty;
      kept, the prompted text stays. Only such doubtful decodes pay for the second decode
      (a failed decode of real speech scored at most 0.29 on 100 made recordings).
    """
    decoded = await run(joined_prompt(user_prompt, names))
    if not names:
        return decoded
    if echoes(decoded.text, names):
        _LOGGER.info("Decode read back the home's names (%r): again without them", decoded.text)
        again = await run(joined_prompt(user_prompt, ""))
        return dataclasses.replace(
            again, decode_seconds=decoded.decode_seconds + again.decode_seconds
        )
    if not any(segment.doubtful for segment in decoded.segments):
        return decoded
    plain = await run(joined_prompt(user_prompt, ""))
    seconds = decoded.decode_seconds + plain.decode_seconds
    if not plain.text.strip() or all(segment.skipped for segment in plain.segments):
        # faster-whisper itself leaves out a window its rule skips: no segment at all
        _LOGGER.info("Whisper hears no speech without the home's names: %r dropped", decoded.text)
        return dataclasses.replace(decoded, text="", segments=(), decode_seconds=seconds)
    return dataclasses.replace(decoded, decode_seconds=seconds)


class VocabularyPrompt:
    """The prompt for the current home, rebuilt only when its names change."""

    def __init__(self, snapshot: Callable[[], HomeSnapshot]) -> None:
        self._snapshot = snapshot
        self._token: object | None = None
        self._text = ""

    def __call__(self) -> str:
        snapshot = self._snapshot()
        if snapshot.names_token is not self._token:
            self._text = home_vocabulary(snapshot)
            self._token = snapshot.names_token
        return self._text
