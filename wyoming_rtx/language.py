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


_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan",
    "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "ga": "Irish", "gl": "Galician", "gu": "Gujarati",
    "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ka": "Georgian",
    "kk": "Kazakh", "kn": "Kannada", "ko": "Korean", "kw": "Cornish", "lb": "Luxembourgish",
    "lt": "Lithuanian", "lv": "Latvian", "ml": "Malayalam", "mn": "Mongolian", "ms": "Malay",
    "nb": "Norwegian", "ne": "Nepali", "nl": "Dutch", "no": "Norwegian", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip
"""English names of the languages there are intents for (home-assistant-intents), for
the start-up language check's messages."""


def language_name(language: str | None) -> str:
    """'de-CH' → 'German', for messages a person reads; an unknown code is shown as given."""
    code = primary_language(language)
    if code is None:
        return "no language"
    return _NAMES.get(code, language.strip() if language else code)
