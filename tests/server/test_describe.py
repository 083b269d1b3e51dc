"""describe → info: shape as Home Assistant needs it, and always inside HA's 1 s budget."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from wyoming_helpers import describe, start_server, synthesize

from wyoming_rtx.protocol.info import PIPER_VOICES_URL, voice_attribution
from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts.voices import describe_voice, discover_voices

LONG_TEXT = " ".join(
    f"Sentence number {n} is here so that the synthesizer has a long text to work through."
    for n in range(60)
)


async def test_info_shape(server) -> None:
    info, seconds = await describe(server.port)
    assert seconds < 1.0
    assert info.satellite is None, "a server must never describe itself as a satellite"
    assert len(info.asr) == 1 and len(info.tts) == 1 and len(info.handle) == 1
    asr = info.asr[0]
    assert asr.installed and asr.version and asr.attribution.name
    assert asr.supports_transcript_streaming
    model = asr.models[0]
    assert model.installed and model.languages == ["en"] and "tiny" in model.name
    tts = info.tts[0]
    assert tts.installed and tts.supports_synthesize_streaming
    names = [voice.name for voice in tts.voices]
    assert "en_US-joe-medium" in names
    for voice in tts.voices:
        assert voice.installed and voice.languages and voice.attribution.name
    handle = info.handle[0]
    assert handle.installed and handle.models and "en" in handle.models[0].languages


async def test_every_attribution_names_its_real_author(server) -> None:
    """Each program and model is credited to whoever made it, checked name and URL."""
    info, _seconds = await describe(server.port)
    [asr], [tts], [handle] = info.asr, info.tts, info.handle
    assert (asr.attribution.name, asr.attribution.url) == (
        "SYSTRAN (faster-whisper)",
        "https://github.com/SYSTRAN/faster-whisper",
    )
    # The bundled tiny.en is a CTranslate2 conversion of OpenAI's Whisper weights.
    assert asr.models[0].attribution.name.startswith("OpenAI")
    assert asr.models[0].attribution.url == "https://github.com/openai/whisper"
    assert (tts.attribution.name, tts.attribution.url) == (
        "OHF-Voice (piper)",
        "https://github.com/OHF-Voice/piper1-gpl",
    )
    [joe] = [voice for voice in tts.voices if voice.name == "en_US-joe-medium"]
    # From the voice's own MODEL_CARD: the joe dataset, CC0, from NabuCasa's voice datasets.
    assert (joe.attribution.name, joe.attribution.url) == (
        "rhasspy/piper-voices; dataset joe (CC0)",
        "https://github.com/NabuCasa/voice-datasets",
    )
    # Our own program, with no made-up URL; the intents it matches are OHF-Voice's.
    assert (handle.attribution.name, handle.attribution.url) == ("wyoming-rtx", "")
    assert (handle.models[0].attribution.name, handle.models[0].attribution.url) == (
        "home-assistant-intents",
        "https://github.com/OHF-Voice/intents",
    )


def _copy_joe(folder: Path, name: str) -> Path:
    """The bundled voice under another name, with or without a card beside it."""
    joe = discover_voices(TtsSettings())[0]
    folder.mkdir()
    model = folder / f"{name}.onnx"
    model.symlink_to(joe.model_path)
    shutil.copy(joe.config_path, folder / f"{name}.onnx.json")
    return model


def test_a_voice_without_its_own_card_is_credited_to_the_catalogue(tmp_path: Path) -> None:
    """A card that belongs to another voice (a flat voices folder) is not this voice's credit."""
    model = _copy_joe(tmp_path / "voices", "en_GB-alan-medium")
    (tmp_path / "voices" / "MODEL_CARD").write_text(
        "# Model card for joe (medium)\n\n## Dataset\n\n* URL: https://example.invalid/joe\n"
    )
    voice = describe_voice(model, model.with_suffix(".onnx.json"))
    attribution = voice_attribution(voice)
    assert (attribution.name, attribution.url) == ("rhasspy/piper-voices", PIPER_VOICES_URL)


async def test_describe_answers_while_synthesizing_long_text(server) -> None:
    synthesis = asyncio.create_task(synthesize(server.port, LONG_TEXT))
    await asyncio.sleep(0.5)  # let the synthesis get going
    worst = 0.0
    for _ in range(10):
        _info, seconds = await describe(server.port)
        worst = max(worst, seconds)
        await asyncio.sleep(0.1)
    assert not synthesis.done(), "the synthesis should still be running during the probes"
    assert worst < 1.0
    speech = await synthesis
    assert len(speech.pcm) > 22050 * 2 * 60  # over a minute of audio


async def test_describe_answers_while_models_load() -> None:
    server = await start_server(wait_ready=False)
    try:
        started = time.monotonic()
        _info, seconds = await describe(server.port)
        assert seconds < 1.0
        assert not any("Ready" in line for line in server.log) or time.monotonic() - started < 1
    finally:
        assert await server.stop() == 0
