"""bench/turn.py's direct-satellite client: its clock starts at the true end of speech and
each event is stamped when it arrives, against a small Wyoming server that ends the turn
itself (as ``--end-of-turn smart`` does) long before the client's trailing silence is over."""

from __future__ import annotations

import asyncio

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import async_read_event, async_write_event
from wyoming.handle import Handled
from wyoming.vad import VoiceStopped

from bench.client import Audio
from bench.turn import satellite_turn, speech_end_seconds

RATE = 16000


def _speech_then_silence(speech_s: float, silence_s: float) -> Audio:
    """A loud tone (the "speech"), then digital silence, 16-bit mono."""
    t = np.arange(int(speech_s * RATE)) / RATE
    tone = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    pcm = tone.tobytes() + bytes(int(silence_s * RATE) * 2)
    return Audio(name="tone", rate=RATE, width=2, channels=1, pcm=pcm)


def test_speech_end_is_where_the_sound_stops_not_where_the_file_ends() -> None:
    audio = _speech_then_silence(0.8, 0.2)
    assert abs(speech_end_seconds(audio) - 0.8) <= 0.01
    assert audio.seconds == 1.0


async def test_events_are_stamped_as_they_arrive_and_streaming_stops_at_voice_stopped() -> None:
    """The server answers 0.2 s into the pause; the client would stream 0.7 s more silence."""
    chunks_after_stop: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard = 0.0
        answered = False
        while (event := await async_read_event(reader)) is not None:
            if AudioChunk.is_type(event.type):
                if answered:
                    chunks_after_stop.append(1)
                heard += AudioChunk.from_event(event).seconds
                if heard >= 0.5 + 0.2 and not answered:
                    answered = True
                    for reply in (VoiceStopped(), Transcript(text="turn on the lights"),
                                  Handled(text="Done"), AudioStart(rate=RATE, width=2, channels=1),
                                  AudioChunk(rate=RATE, width=2, channels=1, audio=bytes(640)),
                                  AudioStop()):  # fmt: skip
                        await async_write_event(reply.event(), writer)
            elif event.type == "played":
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await satellite_turn("127.0.0.1", port, _speech_then_silence(0.5, 0.1),
                                      trailing_silence_s=0.7, timeout=10)  # fmt: skip
    finally:
        server.close()
    after = result.after_speech
    # 0.2 s into the pause, give or take a chunk and the loop: not the 0.8 s of silence sent.
    assert 0.15 <= after["transcript"] <= 0.45, after
    assert after["voice-stopped"] <= after["transcript"] <= after["audio-chunk"] < 0.5
    assert result.answer_text == "Done"
    # At most the chunk already in flight after voice-stopped; not the rest of the silence.
    assert len(chunks_after_stop) <= 2
