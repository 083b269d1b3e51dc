"""Text-to-speech over real Wyoming, checked by transcribing the audio back."""

from __future__ import annotations

import asyncio

from wyoming_helpers import normalize, synthesize, to_16k_mono, transcribe

THREE_SENTENCES = (
    "The kitchen light is on. The front door is locked. It is twenty one degrees in the bedroom."
)


async def _heard(port: int, pcm: bytes, rate: int) -> str:
    audio = to_16k_mono(pcm, rate)
    result = await transcribe(port, audio, 16000, 2, 1, chunk_seconds=0.1)
    return normalize(result.text)


def _audio_events(events) -> list[str]:
    return [e.type for e in events if e.type in ("audio-start", "audio-stop")]


async def test_non_streaming_one_audio_stream(server) -> None:
    speech = await synthesize(server.port, THREE_SENTENCES)
    assert _audio_events(speech.events) == ["audio-start", "audio-stop"]
    assert (speech.rate, speech.width, speech.channels) == (22050, 2, 1)
    heard = await _heard(server.port, speech.pcm, speech.rate)
    for words in ("kitchen light is on", "front door is locked", "bedroom"):
        assert words in heard, heard
    assert speech.first_audio < speech.total


async def test_streaming_audio_per_sentence_and_stopped(server) -> None:
    speech = await synthesize(server.port, THREE_SENTENCES, streaming=True)
    types = [e.type for e in speech.events]
    assert types.count("audio-start") == 1
    assert types[-2:] == ["audio-stop", "synthesize-stopped"]
    heard = await _heard(server.port, speech.pcm, speech.rate)
    # The full `synthesize` sent inside the stream must be ignored: said once, not twice.
    assert heard.count("front door") == 1, heard
    assert "kitchen light is on" in heard and "bedroom" in heard


async def test_empty_text_gives_well_formed_empty_audio(server) -> None:
    speech = await synthesize(server.port, "   ")
    assert _audio_events(speech.events) == ["audio-start", "audio-stop"]
    assert speech.pcm == b""


async def test_unknown_voice_falls_back_to_default(server) -> None:
    speech = await synthesize(server.port, "Hello there.", voice="xx_XX-nobody-low")
    assert len(speech.pcm) > 22050  # real audio, not silence-by-failure


async def test_four_concurrent_syntheses(server) -> None:
    texts = [
        f"This is client number {n}. It gets its own answer."
        for n in ("one", "two", "three", "four")
    ]
    results = await asyncio.gather(*(synthesize(server.port, t) for t in texts))
    for text, speech in zip(texts, results, strict=True):
        heard = await _heard(server.port, speech.pcm, speech.rate)
        assert normalize(text).split()[3] in heard, (text, heard)
