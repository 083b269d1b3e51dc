"""One language normaliser for every stage: BCP 47 tags in, the codes our models know out.

Home Assistant sends tags such as "en-US"; whisper, piper voice lists and the intents know
primary subtags ("en") or, for a few languages, region forms ("pt-BR" voices). Keeping the rule
in one place means speech-to-text, intents and the turn pipeline always agree on a language.
"""

from __future__ import annotations

import logging

_LOGGER = logging.getLogger(__name__)


def primary_language(language: str | None) -> str | None:
    """'en-US' / 'en_GB' / ' EN ' → 'en'; None or blank → None."""
    if not language:
        return None
    return language.strip().replace("_", "-").split("-")[0].lower() or None


def supported_language(language: str | None, languages: list[str]) -> str | None:
    """The form of `language` that is in `languages` (exact tag first, then its primary
    subtag), or None when the model does not know it (callers then detect or use a default)."""
    if not language:
        return None
    code = language.strip().lower().replace("_", "-")
    for candidate in (code, primary_language(code)):
        if candidate in languages:
            return candidate
    _LOGGER.debug("Language %s is not among %s", language, languages)
    return None
