"""Build the `info` answer once, from engine descriptions that exist before any model loads.

Home Assistant gives `describe` one second, on every new connection, so the answer is
prepared at start-up and never touches a model. Everything listed is really on disk
(`installed: true`): HA's default pipeline picks a voice by language from this list,
and a voice we cannot speak means a user who hears nothing. There is never a
`satellite` section here, or HA would treat the server as a satellite.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleProgram,
    Info,
    IntentProgram,
    TtsProgram,
    TtsVoice,
    TtsVoiceSpeaker,
)

from ..version import __version__

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine
    from ..handle import HandleService
    from ..tts.engine import TtsEngine
    from ..tts.voices import VoiceDescription

PROJECT_ATTRIBUTION = Attribution(name="wyoming-rtx", url="")
"""This project's own code. No canonical project URL is declared anywhere yet (pyproject.toml,
repository.yaml), so the URL stays empty rather than made up."""
FASTER_WHISPER_ATTRIBUTION = Attribution(
    name="SYSTRAN (faster-whisper)", url="https://github.com/SYSTRAN/faster-whisper"
)
"""The speech-to-text engine: faster-whisper's own metadata names SYSTRAN's repository."""
WHISPER_MODEL_ATTRIBUTION = Attribution(
    name="OpenAI (Whisper)", url="https://github.com/openai/whisper"
)
"""Whisper's weights (MIT); faster-whisper models are CTranslate2 conversions of them."""
PIPER_ATTRIBUTION = Attribution(
    name="OHF-Voice (piper)", url="https://github.com/OHF-Voice/piper1-gpl"
)
"""The text-to-speech engine: piper-tts 1.8's package metadata names OHF-Voice/piper1-gpl
(rhasspy/piper, its old home, is archived)."""
PIPER_VOICES_URL = "https://huggingface.co/rhasspy/piper-voices"
"""Where piper's voices are published, each with the MODEL_CARD that credits its dataset."""
_CARD_TITLE = re.compile(r"^# Model card for (?P<dataset>\S+) \((?P<quality>[^)]+)\)\s*$", re.M)
_CARD_DATASET = re.compile(r"^## Dataset\s*$(?P<body>(?:\n(?!##).*)*)", re.M)
_CARD_FIELD = re.compile(r"^\*\s*(?P<key>URL|License):\s*(?P<value>\S.*?)\s*$", re.M)


def _attribution(value: Any, default: Attribution) -> Attribution:
    """Engines describe attribution as an Attribution or a (name, url) pair."""
    if isinstance(value, Attribution):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        return Attribution(name=str(value[0]), url=str(value[1]))
    return default


def asr_program(engine: AsrEngine) -> AsrProgram:
    """Describe the speech-to-text model without loading it."""
    desc = engine.description
    return AsrProgram(
        name="wyoming-rtx-asr",
        description="Speech-to-text with faster-whisper (decodes while you are still silent)",
        attribution=FASTER_WHISPER_ATTRIBUTION,
        installed=True,
        version=__version__,
        supports_transcript_streaming=True,
        models=[
            AsrModel(
                name=desc.name,
                description=desc.description,
                attribution=_attribution(desc.attribution, WHISPER_MODEL_ATTRIBUTION),
                installed=True,
                languages=list(desc.languages),
                version=desc.version,
            )
        ],
    )


def _card_credit(card: str, voice_name: str) -> tuple[str, str, str] | None:
    """(dataset, URL, licence) from a piper-voices MODEL_CARD, when the card is this voice's.

    A flat voices folder may hold one voice's card beside another voice, so the card's title
    (``# Model card for joe (medium)``) must name this voice's dataset and quality."""
    title = _CARD_TITLE.search(card)
    parts = voice_name.split("-")
    if title is None or len(parts) != 3 or (title["dataset"], title["quality"]) != tuple(parts[1:]):
        return None
    section = _CARD_DATASET.search(card)
    fields = {
        m["key"]: m["value"] for m in _CARD_FIELD.finditer(section["body"] if section else "")
    }
    if "URL" not in fields:
        return None
    return title["dataset"], fields["URL"], fields.get("License", "licence not stated")


def voice_attribution(voice: VoiceDescription) -> Attribution:
    """Who made a voice: piper-voices' trainer and the dataset its MODEL_CARD credits.

    Read from the card beside the .onnx (a few hundred bytes, once at start-up). Without a
    card that matches, the voice is credited to the piper-voices catalogue it is named after,
    whose card for the voice names the dataset; never to the piper engine."""
    card_path = Path(voice.model_path).parent / "MODEL_CARD"
    try:
        card = card_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        card = ""
    credit = _card_credit(card, voice.name)
    if credit is None:
        return Attribution(name="rhasspy/piper-voices", url=PIPER_VOICES_URL)
    dataset, url, licence = credit
    return Attribution(name=f"rhasspy/piper-voices; dataset {dataset} ({licence})", url=url)


def tts_program(engine: TtsEngine) -> TtsProgram:
    """Describe every voice found on disk, with its languages and speakers."""
    voices = [
        TtsVoice(
            name=voice.name,
            description=voice.description,
            attribution=voice_attribution(voice),
            installed=True,
            languages=list(voice.languages),
            version=voice.version,
            speakers=[TtsVoiceSpeaker(name=s) for s in voice.speakers] or None,
        )
        for voice in engine.voices
    ]
    return TtsProgram(
        name="wyoming-rtx-tts",
        description="Text-to-speech with piper, sentence by sentence",
        attribution=PIPER_ATTRIBUTION,
        installed=True,
        version=__version__,
        supports_synthesize_streaming=True,
        voices=voices,
    )


def build_info(asr: AsrEngine | None, tts: TtsEngine | None, handle: HandleService | None) -> Info:
    """The one `info` this server answers with."""
    handle_programs: list[HandleProgram] = []
    intent_programs: list[IntentProgram] = []
    if handle is not None:
        handle_programs, intent_programs = handle.info_sections()
    return Info(
        asr=[asr_program(asr)] if asr is not None else [],
        tts=[tts_program(tts)] if tts is not None else [],
        handle=handle_programs,
        intent=intent_programs,
    )
