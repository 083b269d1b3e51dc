"""Speech-to-text over real Wyoming, with the recorded test speech."""

from __future__ import annotations

import asyncio

from wyoming.asr import Transcript
from wyoming_helpers import normalize, read_wav, transcribe


async def test_transcribes_16k_mono_at_real_time_pace(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    result = await transcribe(
        server.port, pcm, rate, width, channels, realtime=True, trailing_silence=0.7
    )
    assert normalize(result.text) == "turn on the living room light"
    types = [e.type for e in result.events]
    assert types == ["transcript-start", "transcript-chunk", "transcript", "transcript-stop"]


async def test_transcribes_44k_stereo(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "turn_on_the_living_room_lamp.wav")
    assert (rate, channels) == (44100, 2)
    result = await transcribe(server.port, pcm, rate, width, channels, chunk_seconds=0.1)
    assert normalize(result.text) == "turn on the living room lamp"
    assert Transcript.from_event(result.events[2]).language == "en"


async def test_language_tag_with_region_is_accepted(server, data_dir) -> None:
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    result = await transcribe(
        server.port, pcm, rate, width, channels, language="en-US", chunk_seconds=0.1
    )
    assert normalize(result.text) == "turn on the living room light"


async def test_audio_stop_without_audio_gives_empty_transcript(server) -> None:
    result = await transcribe(server.port, b"", 16000, 2, 1)
    assert result.text == ""


async def test_four_concurrent_clients(server, data_dir) -> None:
    light = read_wav(data_dir / "living_room_light_en.wav")
    lamp = read_wav(data_dir / "turn_on_the_living_room_lamp.wav")
    jobs = [
        transcribe(server.port, *light, chunk_seconds=0.1),
        transcribe(server.port, *lamp, chunk_seconds=0.1),
        transcribe(server.port, *light, chunk_seconds=0.1),
        transcribe(server.port, *lamp, chunk_seconds=0.1),
    ]
    results = await asyncio.gather(*jobs)
    texts = [normalize(r.text) for r in results]
    assert texts == [
        "turn on the living room light",
        "turn on the living room lamp",
        "turn on the living room light",
        "turn on the living room lamp",
    ]
