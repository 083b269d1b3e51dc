"""Real Wyoming clients for tests: a server process on a free port, and the exchanges
Home Assistant performs (describe, transcribe, synthesize), with timings."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

REPO = Path(__file__).resolve().parents[1]
EVENT_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def normalize(text: str) -> str:
    """Lower case, no punctuation: compare what was said, not how it was written."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@dataclass
class ServerProcess:
    """`python -m wyoming_rtx` in a subprocess, with its log kept for assertions."""

    proc: asyncio.subprocess.Process
    port: int
    log: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def _pump(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    async def wait_for_log(self, needle: str, timeout: float = 120.0) -> None:
        """Wait until a log line contains `needle` (e.g. "Ready")."""
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.log):
            if self.proc.returncode is not None:
                raise RuntimeError("server exited:\n" + "\n".join(self.log))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{needle!r} not logged:\n" + "\n".join(self.log))
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return int(self.proc.returncode or 0)


async def start_server(*args: str, wait_ready: bool = True) -> ServerProcess:
    """Start the real server on a free port (no zeroconf unless asked)."""
    port = free_port()
    argv = [sys.executable, "-m", "wyoming_rtx", "--uri", f"tcp://127.0.0.1:{port}", *args]
    if "--zeroconf-name" not in args:
        argv.append("--no-zeroconf")
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    server = ServerProcess(proc=proc, port=port)
    server._reader = asyncio.create_task(server._pump())
    await server.wait_for_log("Listening on", timeout=60)
    if wait_ready:
        await server.wait_for_log("Ready")
    return server


async def read_until(
    client: AsyncTcpClient, *types: str, timeout: float = EVENT_TIMEOUT
) -> list[Event]:
    """Read events until one of `types` arrives (inclusive); fail on disconnect."""
    events: list[Event] = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout)
        assert event is not None, f"disconnected after {[e.type for e in events]}"
        events.append(event)
        if event.type in types:
            return events


async def describe(port: int, timeout: float = 1.0) -> tuple[Info, float]:
    """Describe on a fresh connection, as HA's 1-second probe does; returns (info, seconds)."""
    started = time.monotonic()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        events = await read_until(client, "info", timeout=timeout)
    return Info.from_event(events[-1]), time.monotonic() - started


def read_wav(path: Path) -> tuple[bytes, int, int, int]:
    """(pcm, rate, width, channels) of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        return (
            wav.readframes(wav.getnframes()),
            wav.getframerate(),
            wav.getsampwidth(),
            wav.getnchannels(),
        )


@dataclass
class TranscribeResult:
    text: str
    events: list[Event]
    after_stop: float
    """Seconds from sending audio-stop to receiving the final transcript."""


async def transcribe(
    port: int,
    pcm: bytes,
    rate: int,
    width: int,
    channels: int,
    realtime: bool = False,
    trailing_silence: float = 0.0,
    language: str | None = "en",
    chunk_seconds: float = 0.01,
) -> TranscribeResult:
    """HA's STT exchange: transcribe, audio-start, 10 ms chunks, audio-stop → transcript."""
    pcm = pcm + bytes(int(trailing_silence * rate) * width * channels)
    step = max(width * channels, int(rate * chunk_seconds) * width * channels)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        started = time.monotonic()
        for n, offset in enumerate(range(0, len(pcm), step)):
            chunk = AudioChunk(
                rate=rate, width=width, channels=channels, audio=pcm[offset : offset + step]
            )
            await client.write_event(chunk.event())
            if realtime:
                delay = started + (n + 1) * chunk_seconds - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        await client.write_event(AudioStop().event())
        stopped = time.monotonic()
        events = await read_until(client, "transcript")
        after = time.monotonic() - stopped
        events += await read_until(client, "transcript-stop")
    final = next(e for e in events if e.type == "transcript")
    return TranscribeResult(Transcript.from_event(final).text, events, after)


@dataclass
class SpeechResult:
    rate: int
    width: int
    channels: int
    pcm: bytes
    events: list[Event]
    first_audio: float
    """Seconds from the request to the first audio-chunk."""
    total: float


async def synthesize(
    port: int, text: str, streaming: bool = False, voice: str | None = None
) -> SpeechResult:
    """HA's TTS exchange, non-streaming or streaming (text sent in small deltas)."""
    from wyoming.tts import SynthesizeVoice

    voice_obj = SynthesizeVoice(name=voice) if voice else None
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.monotonic()
        if streaming:
            await client.write_event(SynthesizeStart(voice=voice_obj).event())
            words = text.split(" ")
            for i, word in enumerate(words):
                delta = word if i == 0 else " " + word
                await client.write_event(SynthesizeChunk(text=delta).event())
            await client.write_event(Synthesize(text=text, voice=voice_obj).event())
            await client.write_event(SynthesizeStop().event())
            end_type = "synthesize-stopped"
        else:
            await client.write_event(Synthesize(text=text, voice=voice_obj).event())
            end_type = "audio-stop"
        events: list[Event] = []
        first_audio = 0.0
        while True:
            event = await asyncio.wait_for(client.read_event(), EVENT_TIMEOUT)
            assert event is not None, f"disconnected after {[e.type for e in events]}"
            events.append(event)
            if event.type == "audio-chunk" and not first_audio:
                first_audio = time.monotonic() - started
            if event.type == end_type:
                break
        total = time.monotonic() - started
    start = AudioStart.from_event(next(e for e in events if e.type == "audio-start"))
    pcm = b"".join(AudioChunk.from_event(e).audio for e in events if e.type == "audio-chunk")
    return SpeechResult(start.rate, start.width, start.channels, pcm, events, first_audio, total)


def to_16k_mono(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """Resample 16-bit audio to 16 kHz mono (test-side, independent of the server's code)."""
    from math import gcd

    from scipy.signal import resample_poly

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    g = gcd(16000, rate)
    out = resample_poly(samples, 16000 // g, rate // g)
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()
