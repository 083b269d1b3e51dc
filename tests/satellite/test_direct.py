"""Direct mode against a scripted fake Wyoming server (DESIGN §4)."""

from __future__ import annotations

import asyncio
import logging
import socket
import wave
from pathlib import Path

import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.handle import Handled
from wyoming.info import Info
from wyoming.ping import Ping, Pong

from satellite.app import DirectRun, Seams, run_direct
from satellite.settings import (
    DirectSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    WakeSettings,
)
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for

ANSWER_SECONDS = 0.5


class FakeServer:
    """Plays the wyoming-rtx server's part of DESIGN §4, one scripted answer per turn."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.events: list[Event] = []
        self.connections = 0
        self.release = asyncio.Event()
        self.release.set()
        self.pings_answered = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    def types(self) -> list[str]:
        return [e.type for e in self.events if e.type not in ("ping", "pong")]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        await async_write_event(Ping(text="server").event(), writer)
        try:
            while (event := await async_read_event(reader)) is not None:
                self.events.append(event)
                if event.type == "ping":
                    await async_write_event(Pong(text=event.data.get("text")).event(), writer)
                elif event.type == "pong":
                    self.pings_answered.set()
                elif event.type == "audio-stop":
                    await self._answer(writer)
        except (ConnectionError, OSError):
            pass

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        await self.release.wait()
        await async_write_event(Transcript(text="turn on the kitchen light").event(), writer)
        await async_write_event(Handled(text="Turned on the kitchen light").event(), writer)
        await async_write_event(AudioStart(rate=22050, width=2, channels=1).event(), writer)
        tone = b"\x10\x00" * int(22050 * ANSWER_SECONDS)
        for i in range(0, len(tone), 2048):
            chunk = AudioChunk(rate=22050, width=2, channels=1, audio=tone[i : i + 2048])
            await async_write_event(chunk.event(), writer)
        await async_write_event(AudioStop().event(), writer)


def _settings(tmp_path: Path, mic_file: Path | None = None) -> SatelliteSettings:
    return SatelliteSettings(
        name="kitchen satellite",
        area="Kitchen",
        mic=MicSettings(file=mic_file, tail_silence_seconds=1.0),
        snd=SndSettings(file=tmp_path / "played.wav"),
        wake=WakeSettings(names=("hey_jarvis",)),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_wav_turn_end_to_end(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    server = FakeServer()
    port = await server.start()
    settings = _settings(tmp_path, fixtures / "wake_command.wav")
    try:
        run: DirectRun = await asyncio.wait_for(
            run_direct(
                settings,
                DirectSettings(server_uri=f"tcp://127.0.0.1:{port}"),
                Seams(engine=oww_engine),
            ),
            timeout=30,
        )
    finally:
        await server.stop()

    info = Info.from_event(server.events[0])
    assert info.satellite is not None
    assert (info.satellite.name, info.satellite.area) == ("kitchen satellite", "Kitchen")
    assert info.satellite.active_wake_words == ["hey_jarvis", "ok_nabu", "alexa"]  # the engine's
    assert info.satellite.has_vad is True

    types = server.types()
    assert types[:3] == ["info", "run-pipeline", "audio-start"]
    run_pipeline = server.events[[e.type for e in server.events].index("run-pipeline")]
    assert run_pipeline.data["start_stage"] == "asr"
    assert run_pipeline.data["end_stage"] == "tts"
    assert run_pipeline.data["wake_word_name"] == "hey_jarvis"
    assert types[-3:] == ["voice-stopped", "audio-stop", "played"]
    assert set(types[3:-3]) == {"audio-chunk"}
    chunks = [e for e in server.events if e.type == "audio-chunk"]
    turn_pcm = b"".join(e.payload or b"" for e in chunks)
    meta = sat_manifest["wake_command.wav"]
    command = read_pcm(fixtures / "wake_command.wav")
    start, end = (int(meta[k] * 16000) * 2 for k in ("command_start_s", "speech_end_s"))
    assert command[start:end] in turn_pcm
    assert pings_seen(server)

    assert run.client.transcripts == ["turn on the kitchen light"]
    assert run.client.answers == [(True, "Turned on the kitchen light")]
    with wave.open(str(tmp_path / "played.wav"), "rb") as played:
        seconds = played.getnframes() / played.getframerate()
    sounds = 0.0
    for wav in (settings.snd.awake_wav, settings.snd.done_wav):
        assert wav is not None
        with wave.open(str(wav), "rb") as sound:
            sounds += sound.getnframes() / sound.getframerate()
    assert seconds == pytest.approx(ANSWER_SECONDS + sounds, abs=0.01)


def pings_seen(server: FakeServer) -> bool:
    return server.pings_answered.is_set()


async def test_reconnects_keeps_listening_and_mutes_while_answering(
    tmp_path: Path, fixtures: Path, oww_engine: WakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="satellite")
    port = _free_port()
    mic = QueueMic()
    wake_pcm = read_pcm(fixtures / "wake_command.wav")
    settings = _settings(tmp_path)
    direct = DirectSettings(
        server_uri=f"tcp://127.0.0.1:{port}",
        reconnect_seconds=0.05,
        reconnect_max_seconds=0.2,
        ping_seconds=0.2,
    )
    task = asyncio.create_task(
        run_direct(settings, direct, Seams(mic_factory=lambda: mic, engine=oww_engine))
    )
    server = FakeServer(port)
    try:
        # 1. No server: the wake word is still heard, the turn refused, the outage logged once.
        mic.feed(wake_pcm)
        await wait_for(lambda: "Wake word heard but the server is not connected" in caplog.text)
        await asyncio.sleep(0.5)  # several reconnect attempts
        warnings = [r for r in caplog.records if "reconnecting" in r.getMessage()]
        assert len(warnings) >= 3
        assert sum(r.levelno == logging.WARNING for r in warnings) == 1

        # 2. Server appears: connected; a turn goes through; answer held back for now.
        await server.start()
        server.release.clear()
        await wait_for(lambda: server.connections == 1 and "info" in server.types())
        mic.feed(wake_pcm)
        await wait_for(lambda: "audio-stop" in server.types())
        # While the answer is pending, the wake phrase is muted.
        mic.feed(wake_pcm)
        await wait_for(lambda: mic.queue.empty())
        await asyncio.sleep(0.1)
        assert server.types().count("run-pipeline") == 1
        server.release.set()
        await wait_for(lambda: "played" in server.types())

        # 3. Server restarts: the satellite reconnects and the next turn works.
        await server.stop()
        server = FakeServer(port)
        await server.start()
        await wait_for(lambda: server.connections == 1 and "info" in server.types())
        mic.feed(wake_pcm)
        await wait_for(lambda: "played" in server.types())
        assert server.types().count("run-pipeline") == 1
        mic.end()
        run = await asyncio.wait_for(task, timeout=10)
        assert run.client.connections == 2
        kinds = [e.kind for e in run.loop.events]
        assert kinds.count("wake") == 3
        assert kinds.count("turn_refused") == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
