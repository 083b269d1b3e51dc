"""The one Wyoming client every server is measured with: ASR (paced or burst), TTS, describe.

Why one client: a latency ratio is only meaningful when both sides get byte-identical requests
with identical pacing and the clock is read at the same protocol points. All clocks here are
``time.perf_counter()`` in the client process; the events are read by a separate task while the
audio is written, so a server that answers early (streaming transcripts) is timed correctly.
"""

from __future__ import annotations

import asyncio
import time
import wave
from dataclasses import dataclass, replace
from pathlib import Path

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

CHUNK_SECONDS = 0.01
"""Home Assistant sends 10 ms chunks (DESIGN §3)."""
HA_TRAILING_SILENCE_S = 0.7
"""HA's VAD waits this long after speech before it sends audio-stop, so real audio always ends
with it; the peers and we see the same silence (sent at real-time pace when paced)."""
TRANSCRIPT = "transcript"
AUDIO_CHUNK = "audio-chunk"
AUDIO_STOP = "audio-stop"
SYNTHESIZE_STOPPED = "synthesize-stopped"
STREAM_WORDS_PER_CHUNK = 3
"""Words per ``synthesize-chunk`` when streaming text, roughly what an LLM delta carries."""


@dataclass(frozen=True)
class Audio:
    """PCM in the file's own format: the servers must convert (HA may send any format)."""

    name: str
    rate: int
    width: int
    channels: int
    pcm: bytes

    @classmethod
    def from_wav(cls, path: Path, name: str | None = None) -> Audio:
        """Read a WAV file as-is (no resampling, no down-mixing)."""
        with wave.open(str(path), "rb") as wav:
            return cls(
                name=name or path.stem,
                rate=wav.getframerate(),
                width=wav.getsampwidth(),
                channels=wav.getnchannels(),
                pcm=wav.readframes(wav.getnframes()),
            )

    @property
    def bytes_per_second(self) -> int:
        """Bytes of PCM per second of audio."""
        return self.rate * self.width * self.channels

    @property
    def seconds(self) -> float:
        """Duration of the PCM."""
        return len(self.pcm) / self.bytes_per_second

    def with_silence(self, seconds: float) -> Audio:
        """The same audio followed by ``seconds`` of digital silence in the same format."""
        frames = round(seconds * self.rate)
        return replace(self, pcm=self.pcm + bytes(frames * self.width * self.channels))

    def chunks(self, seconds: float = CHUNK_SECONDS) -> list[bytes]:
        """Split into chunks of ``seconds`` (the last may be shorter), frame-aligned."""
        frame = self.width * self.channels
        size = max(frame, round(seconds * self.rate) * frame)
        return [self.pcm[i : i + size] for i in range(0, len(self.pcm), size)]


@dataclass(frozen=True)
class AsrResult:
    """One transcription as the client saw it."""

    text: str
    finish_s: float
    """audio-stop written -> transcript read: what the user waits for after HA's VAD fires."""
    total_s: float
    """transcribe written -> transcript read."""


@dataclass(frozen=True)
class TtsResult:
    """One synthesis as the client saw it."""

    first_audio_s: float
    """First request event written -> first audio-chunk read."""
    total_s: float
    """First request event written -> audio-stop (or synthesize-stopped when streaming) read."""
    audio_seconds: float


class ServerError(RuntimeError):
    """The server answered with an ``error`` event or closed the connection early."""


async def describe(host: str, port: int, timeout: float = 5.0) -> dict:
    """Send ``describe`` and return the ``info`` event's data (raises on timeout or close)."""
    async with asyncio.timeout(timeout):
        async with AsyncTcpClient(host, port) as client:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError("closed before info")
                if Info.is_type(event.type):
                    return dict(event.data or {})


async def _read_until(
    client: AsyncTcpClient, done_types: set[str], stamps: dict[str, float]
) -> list[Event]:
    """Read events until one of ``done_types``; record the first arrival time of each type."""
    events: list[Event] = []
    while True:
        event = await client.read_event()
        if event is None:
            raise ServerError("connection closed before the answer")
        stamps.setdefault(event.type, time.perf_counter())
        events.append(event)
        if Error.is_type(event.type):
            raise ServerError(Error.from_event(event).text)
        if event.type in done_types:
            return events


async def transcribe(
    host: str,
    port: int,
    audio: Audio,
    *,
    realtime: bool,
    language: str = "en",
    trailing_silence_s: float = HA_TRAILING_SILENCE_S,
    timeout: float = 120.0,
) -> AsrResult:
    """Stream ``audio`` (+ trailing silence) in 10 ms chunks, paced or in a burst; time the answer.

    Pacing uses absolute deadlines from the first chunk, so a slow write never accumulates drift.
    """
    sent = audio.with_silence(trailing_silence_s) if trailing_silence_s > 0 else audio
    chunks = sent.chunks()
    stamps: dict[str, float] = {}
    async with asyncio.timeout(timeout):
        async with AsyncTcpClient(host, port) as client:
            begin = time.perf_counter()
            await client.write_event(Transcribe(language=language).event())
            reader = asyncio.create_task(
                _read_until(client, {TRANSCRIPT}, stamps), name="asr-reader"
            )
            try:
                fmt = {"rate": sent.rate, "width": sent.width, "channels": sent.channels}
                await client.write_event(AudioStart(**fmt).event())
                start = time.perf_counter()
                for i, chunk in enumerate(chunks):
                    if realtime:
                        delay = start + i * CHUNK_SECONDS - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    if reader.done():
                        break  # an early error/close: let the reader raise it below
                    await client.write_event(AudioChunk(audio=chunk, **fmt).event())
                if realtime:
                    delay = start + len(chunks) * CHUNK_SECONDS - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await client.write_event(AudioStop().event())
                stopped = time.perf_counter()
                events = await reader
            finally:
                if not reader.done():
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
    transcript = Transcript.from_event(events[-1])
    done = stamps[events[-1].type]
    return AsrResult(text=transcript.text, finish_s=done - stopped, total_s=done - begin)


def stream_chunks(text: str, words: int = STREAM_WORDS_PER_CHUNK) -> list[str]:
    """Split text into chunks of a few words (keeping the spaces), as an LLM streams deltas."""
    tokens = text.split(" ")
    return [
        " ".join(tokens[i : i + words]) + (" " if i + words < len(tokens) else "")
        for i in range(0, len(tokens), words)
    ]


async def synthesize(
    host: str, port: int, text: str, *, streaming: bool, timeout: float = 120.0
) -> TtsResult:
    """Request speech for ``text`` and time first audio and the end of the answer.

    Streaming follows HA: ``synthesize-start``, the text in chunks, the full ``synthesize`` (for
    servers that do not stream; streaming servers ignore it), then ``synthesize-stop``.
    """
    stamps: dict[str, float] = {}
    done_type = SYNTHESIZE_STOPPED if streaming else AUDIO_STOP
    async with asyncio.timeout(timeout):
        async with AsyncTcpClient(host, port) as client:
            begin = time.perf_counter()
            reader = asyncio.create_task(
                _read_until(client, {done_type}, stamps), name="tts-reader"
            )
            try:
                if streaming:
                    await client.write_event(SynthesizeStart().event())
                    for chunk in stream_chunks(text):
                        await client.write_event(SynthesizeChunk(text=chunk).event())
                    await client.write_event(Synthesize(text=text).event())
                    await client.write_event(SynthesizeStop().event())
                else:
                    await client.write_event(Synthesize(text=text).event())
                events = await reader
            finally:
                if not reader.done():
                    reader.cancel()
                    await asyncio.gather(reader, return_exceptions=True)
    if AUDIO_CHUNK not in stamps:
        raise ServerError("no audio in the answer")
    audio_seconds = 0.0
    for event in events:
        if AudioChunk.is_type(event.type):
            audio = AudioChunk.from_event(event)
            audio_seconds += len(audio.audio) / (audio.rate * audio.width * audio.channels)
    return TtsResult(
        first_audio_s=stamps[AUDIO_CHUNK] - begin,
        total_s=stamps[done_type] - begin,
        audio_seconds=audio_seconds,
    )
