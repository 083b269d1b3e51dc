"""describe → info: shape as Home Assistant needs it, and always inside HA's 1 s budget."""

from __future__ import annotations

import asyncio
import time

from wyoming_helpers import describe, start_server, synthesize

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
