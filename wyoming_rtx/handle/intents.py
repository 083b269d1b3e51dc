"""Local intent recognition: hassil + home-assistant-intents against the home's names.

Recognition is a few milliseconds, so it runs inline; parsing the language's intents JSON and
the first (lazy) sentence parse take longer and run in a thread at start-up. The slot lists
(entity names and aliases, areas, floors) are rebuilt only when the home's names change.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from hassil import Intents, RecognizeResult, recognize_best
from hassil.intents import SlotList, TextSlotList
from home_assistant_intents import get_intents, get_languages

from ..audio.transcript_cues import hesitation_words, spoken_words
from ..errors import RtxError
from ..home.model import HomeSnapshot
from .spoken_forms import SlotValue, name_variants
from .template import ResponseTemplate, TemplateError

_LOGGER = logging.getLogger(__name__)

_WARM_UP_TEXT = "what time is it"
_SOME_AREA = "\x00some area"
"""A stand-in speaker area: sentences that require one ("turn on the lights") then match, and
the stand-in shows that the area is the one thing missing. No real area name has a NUL."""


class UnsupportedLanguageError(RtxError):
    """home-assistant-intents has no sentences for the configured language."""

    code = "unsupported-language"


@dataclass(frozen=True)
class IntentMatch:
    """A recognized intent with its slot values (entity *names*, as HA expects them)."""

    intent: str
    slots: dict[str, Any]
    """Slot values: names for name/area/floor, numbers for brightness/timers."""
    speech_slots: dict[str, Any]
    """What the response template sees as `slots` (spoken text where there is one)."""
    response_key: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """Integral floats as ints (hassil gives 50.0 for "50 percent")."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class IntentMatcher:
    """Recognizes commands in one language and renders that language's responses."""

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self._intents: Intents | None = None
        self._responses: dict[str, dict[str, str]] = {}
        self._errors: dict[str, str] = {}
        self._compiled: dict[tuple[str, str], ResponseTemplate | None] = {}
        self._skip_words = sorted(hesitation_words(language))
        """Hesitations whisper writes out ("turn on the, um, fan"), skipped like "please"."""
        self._lists_token: object | None = None
        self._slot_lists: dict[str, SlotList] = {}
        self._variant_lists: dict[str, SlotList] | None = None
        """The slot lists with the names' other number ("String Light" for "String Lights"),
        tried only when a text matches nothing without them: "the kitchen lights" still
        means the kitchen's lights, not a "Kitchen Light" device alone. None: no variants."""
        self._variant_words: frozenset[str] = frozenset()
        """The variants' last words: a text with none of them is not matched twice."""
        self._last: tuple[str, HomeSnapshot, str | None, IntentMatch | None] | None = None
        """The last match: one turn asks for the same text twice (the speech-to-text's
        command check, then the answer; or Home Assistant's timer check, then the answer),
        and a snapshot is never changed in place, so the same (text, snapshot, area) gives
        the same match."""

    @property
    def loaded(self) -> bool:
        """True once `load()` has finished."""
        return self._intents is not None

    async def load(self) -> None:
        """Parse the intents JSON and warm hassil's sentence cache, off the event loop."""
        if self._intents is None:
            await asyncio.to_thread(self._load)

    def _load(self) -> None:
        data = get_intents(self.language)
        if data is None:
            raise UnsupportedLanguageError(
                f"no intents for language {self.language!r}; "
                f"available: {', '.join(sorted(get_languages()))}"
            )
        intents = Intents.from_dict(data)
        responses = data.get("responses", {})
        self._responses = responses.get("intents", {})
        self._errors = responses.get("errors", {})
        empty: dict[str, SlotList] = {
            n: TextSlotList.from_tuples([]) for n in ("name", "area", "floor")
        }
        for intent in intents.intents.values():
            for block in intent.data:
                _ = block.sentences  # parse every sentence template now, not on the first command
        recognize_best(_WARM_UP_TEXT, intents, slot_lists=empty, language=self.language)
        self._intents = intents
        _LOGGER.info("Intents loaded: %s, %d intents", self.language, len(intents.intents))

    def _lists(self, home: HomeSnapshot) -> dict[str, SlotList]:
        if home.names_token is not self._lists_token:
            names: list[SlotValue] = []
            for entity in home.entities.values():
                context = {"domain": entity.domain}
                if entity.device_class:
                    context["device_class"] = entity.device_class
                for text in (entity.name, *entity.aliases):
                    names.append((text, entity.name, context))
            areas: list[SlotValue] = [
                (t, a.name, {}) for a in home.areas.values() for t in (a.name, *a.aliases)
            ]
            floors: list[SlotValue] = [
                (t, f.name, {}) for f in home.floors.values() for t in (f.name, *f.aliases)
            ]
            self._slot_lists = {
                "name": TextSlotList.from_tuples(names, allow_template=False),
                "area": TextSlotList.from_tuples(areas, allow_template=False),
                "floor": TextSlotList.from_tuples(floors, allow_template=False),
            }
            taken = [text for text, _, _ in (*names, *areas, *floors)]
            variants = name_variants(names, taken, self.language)
            self._variant_lists = (
                {
                    **self._slot_lists,
                    "name": TextSlotList.from_tuples([*names, *variants], allow_template=False),
                }
                if variants
                else None
            )
            self._variant_words = frozenset(spoken_words(text)[-1] for text, _, _ in variants)
            self._lists_token = home.names_token
        return self._slot_lists

    def match(self, text: str, home: HomeSnapshot, area: str | None = None) -> IntentMatch | None:
        """Best local match for `text`, with the speaking satellite's area as context."""
        if self._intents is None:
            raise RtxError("intents are not loaded yet", code="not-ready")
        last = self._last
        if last is not None and last[0] == text and last[1] is home and last[2] == area:
            return last[3]
        match = self._recognize(text, home, area)
        self._last = (text, home, area, match)
        return match

    def _recognize(self, text: str, home: HomeSnapshot, area: str | None) -> IntentMatch | None:
        context: dict[str, Any] | None = {"area": area} if area else None
        result = self._best(text, self._lists(home), context)
        if result is None and self._variant_lists is not None and self._says_a_variant(text):
            result = self._best(text, self._variant_lists, context)
        if result is None:
            return None
        slots = {name: _plain(entity.value) for name, entity in result.entities.items()}
        speech_slots = {
            name: (entity.text.strip() if entity.text else None) or _plain(entity.value)
            for name, entity in result.entities.items()
        }
        return IntentMatch(
            intent=result.intent.name,
            slots=slots,
            speech_slots=speech_slots,
            response_key=result.response or "default",
            text=text,
            metadata=dict(result.intent_metadata or {}),
        )

    def _best(
        self, text: str, slot_lists: dict[str, SlotList], context: dict[str, Any] | None
    ) -> RecognizeResult | None:
        assert self._intents is not None
        return recognize_best(
            text,
            self._intents,
            slot_lists=slot_lists,
            skip_words=self._skip_words,
            intent_context=context,
            language=self.language,
            best_metadata_key="hass_custom_sentence",
            best_slot_name="name",
        )

    def _says_a_variant(self, text: str) -> bool:
        """Whether a word of `text` ends a name variant (the second match is worth trying)."""
        return not self._variant_words.isdisjoint(spoken_words(text))

    def match_needing_area(self, text: str, home: HomeSnapshot) -> IntentMatch | None:
        """The match `text` would have if the speaker had an area, without that area.

        Sentences such as "turn on the lights" or "set the temperature to 21" only match with
        the speaking satellite's area as context; from a speaker without one they match
        nothing. None when `text` matches nothing even so, or matches without needing one."""
        match = self.match(text, home, _SOME_AREA)
        if match is None or match.slots.get("area") != _SOME_AREA:
            return None
        return replace(
            match,
            slots={k: v for k, v in match.slots.items() if k != "area"},
            speech_slots={k: v for k, v in match.speech_slots.items() if k != "area"},
        )

    def response_source(self, intent: str, key: str) -> str | None:
        """The raw response template (sent to HA in intent mode: it renders it itself)."""
        responses = self._responses.get(intent, {})
        return responses.get(key, responses.get("default"))

    def render(self, intent: str, key: str, variables: dict[str, Any]) -> str | None:
        """Render an intent's response; None when the language has none or it fails."""
        return self._render((intent, key), self.response_source(intent, key), variables)

    def render_error(self, key: str, variables: dict[str, Any]) -> str | None:
        """Render one of the language's error responses (no_entity, no_area, ...)."""
        return self._render(("errors", key), self._errors.get(key), variables)

    def _render(
        self, cache_key: tuple[str, str], source: str | None, variables: dict[str, Any]
    ) -> str | None:
        if source is None:
            return None
        if cache_key not in self._compiled:
            try:
                self._compiled[cache_key] = ResponseTemplate(source)
            except TemplateError as err:
                _LOGGER.warning("Response %s/%s cannot be parsed: %s", *cache_key, err)
                self._compiled[cache_key] = None
        template = self._compiled[cache_key]
        if template is None:
            return None
        try:
            return template.render(variables)
        except TemplateError as err:
            _LOGGER.warning("Response %s/%s failed: %s", *cache_key, err)
            return None
