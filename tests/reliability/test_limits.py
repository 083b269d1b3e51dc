"""Per-request caps hold, and hold memory: text per synthesis (default 20,000 characters),
audio per transcription (--max-audio-seconds), and requests a client may pile up unread."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from reliability.conftest import MAX_AUDIO_SECONDS
from reliability.support import LONG_TEXT, RssSampler
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize
from wyoming_helpers import normalize, read_until, read_wav


async def test_text_over_default_cap_gets_error(server) -> None:
    """20,001 characters: `text-too-long`, then an empty audio stream (Home Assistant skips
    `error` and waits for `audio-stop`); the connection still answers."""
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Synthesize(text=LONG_TEXT + "x").event())
        events = await read_until(client, "audio-stop", timeout=5)
        assert [e.type for e in events] == ["error", "audio-start", "audio-stop"]
        assert events[0].data["code"] == "text-too-long"
        await client.write_event(Describe().event())
        await read_until(client, "info", timeout=2)


async def test_text_at_default_cap_is_spoken(server) -> None:
    """Exactly 20,000 characters is allowed: audio starts streaming (we do not wait for it all)."""
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Synthesize(text=LONG_TEXT).event())
        events = await read_until(client, "audio-chunk", "error", timeout=30)
    assert [e.type for e in events] == ["audio-start", "audio-chunk"]


async def _transcribe_burst(
    port: int, audio: bytes, rate: int, width: int, channels: int, step: int
) -> str:
    """One STT request with the audio sent as fast as the socket takes it."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        for offset in range(0, len(audio), step):
            piece = audio[offset : offset + step]
            await client.write_event(
                AudioChunk(rate=rate, width=width, channels=channels, audio=piece).event()
            )
        await client.write_event(AudioStop().event())
        events = await read_until(client, "transcript", timeout=60)
    return str(events[-1].data["text"])


async def test_audio_past_cap_is_truncated_and_memory_bounded(server, proc, data_dir) -> None:
    """300 s of audio in one request: only the first --max-audio-seconds are transcribed
    (the phrase repeated after the cap is not), and memory grows no more than for a
    request exactly at the cap (the decoder's buffers for a full window are warmed first)."""
    pcm, rate, width, channels = read_wav(data_dir / "living_room_light_en.wav")
    assert (rate, width, channels) == (16000, 2, 1)
    bytes_per_second = rate * width
    second_copy_at = (MAX_AUDIO_SECONDS + 2) * bytes_per_second
    audio = bytearray(300 * bytes_per_second)
    audio[: len(pcm)] = pcm
    audio[second_copy_at : second_copy_at + len(pcm)] = pcm
    step = bytes_per_second // 2  # 0.5 s chunks: 600 of them
    at_cap = bytes(audio[: MAX_AUDIO_SECONDS * bytes_per_second])
    await _transcribe_burst(server.port, at_cap, rate, width, channels, step)
    with RssSampler(proc) as reference:
        await _transcribe_burst(server.port, at_cap, rate, width, channels, step)

    with RssSampler(proc) as rss:
        text = await _transcribe_burst(server.port, bytes(audio), rate, width, channels, step)
    assert normalize(text).count("living room light") == 1, text
    assert "Utterance longer than" in server.log()
    # A decode has a transient working set of its own (~65 MB on CPU, whatever the length
    # up to the cap); the 290 s past the cap (9.3 MB at 16 kHz, more as float) must add
    # nothing to it.
    extra = rss.growth_mb - reference.growth_mb
    assert extra < 15, f"peak RSS {extra:.1f} MB above a request at the cap"


async def test_eight_channel_48k_audio_past_cap_is_bounded(server, proc) -> None:
    """60 s of 48 kHz 8-channel audio (46 MB on the wire): converted and capped as it
    arrives, never buffered whole: memory as for a 1 s request of the same format."""
    rng = np.random.default_rng(0)
    second = (rng.standard_normal((48000, 8)) * 300).astype("<i2").tobytes()
    step = len(second) // 2
    await _transcribe_burst(server.port, second, 48000, 2, 8, step)
    with RssSampler(proc) as reference:
        await _transcribe_burst(server.port, second, 48000, 2, 8, step)
    with RssSampler(proc) as rss:
        await _transcribe_burst(server.port, second * 60, 48000, 2, 8, step)
    extra = rss.growth_mb - reference.growth_mb
    assert extra < 15, f"peak RSS {extra:.1f} MB above a 1 s request of the same format"


async def _synthesize_whole(port: int) -> None:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=LONG_TEXT[:400]).event())
        await read_until(client, "audio-stop", timeout=60)


async def test_requests_piled_up_unread_are_bounded(server, proc) -> None:
    """A client that pipelines synthesize requests without reading must be paused (TCP
    backpressure) or dropped, not have every request queued in memory.

    Each accepted request here holds a 19,800-character text and a waiting task; without
    a bound, a few thousand of them cost hundreds of MB within the default 15 s
    write timeout (measured: +187 MB in 12 s).

    First, one ordinary synthesis alone and then two at once: ONNX Runtime's arena grows once
    (+30 to +50 MB) the first time each of the voice's sessions renders (a synthesis alone
    has a session of its own, tts/engine.py), which the pile-up also causes; that one-off
    growth is ordinary use, not the pile-up's cost (bench/bad_input_memory.py
    "non-reading"). With only the two at once first, whether the pile-up's first render ran
    alone decided the figure: 5-8 MB or 48-53 MB, in 5 runs each before and after this
    stop's change."""
    await _synthesize_whole(server.port)
    await asyncio.gather(_synthesize_whole(server.port), _synthesize_whole(server.port))
    text = LONG_TEXT[:19_800]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    sent = 0
    try:
        with RssSampler(proc) as rss:
            deadline = time.monotonic() + 8
            try:
                while time.monotonic() < deadline and sent < 3000:
                    await asyncio.wait_for(
                        async_write_event(Synthesize(text=text).event(), writer), 2
                    )
                    sent += 1
            except (TimeoutError, ConnectionError):
                pass  # paused or dropped: both are bounded answers
            await asyncio.sleep(0.5)
    finally:
        writer.transport.abort()
        del reader
    assert rss.growth_mb < 40, f"RSS grew {rss.growth_mb:.1f} MB after {sent} unread requests"
