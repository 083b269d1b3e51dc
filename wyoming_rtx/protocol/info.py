"""Build the `info` answer once, from engine descriptions that exist before any model loads.

Home Assistant gives `describe` one second, on every new connection, so the answer is
prepared at start-up and never touches a model. Everything listed is really on disk
(`installed: true`): HA's default pipeline picks a voice by language from this list,
and a voice we cannot speak means a user who hears nothing. There is never a
`satellite` section here, or HA would treat the server as a satellite.
"""

from __future__ import annotations

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
    faster_whisper = Attribution(name="SYSTRAN", url="https://github.com/SYSTRAN/faster-whisper")
    return AsrProgram(
        name="wyoming-rtx-asr",
        description="Speech-to-text with faster-whisper (decodes while you are still silent)",
        attribution=faster_whisper,
        installed=True,
        version=__version__,
        supports_transcript_streaming=True,
        models=[
            AsrModel(
                name=desc.name,
                description=desc.description,
                attribution=_attribution(desc.attribution, faster_whisper),
                installed=True,
                languages=list(desc.languages),
                version=desc.version,
            )
        ],
    )


def tts_program(engine: TtsEngine) -> TtsProgram:
    """Describe every voice found on disk, with its languages and speakers."""
    piper = Attribution(name="rhasspy", url="https://github.com/rhasspy/piper")
    voices = [
        TtsVoice(
            name=voice.name,
            description=voice.description,
            attribution=_attribution(voice.attribution, piper),
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
        attribution=piper,
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
