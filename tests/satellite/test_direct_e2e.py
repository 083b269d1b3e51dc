"""Direct mode end to end: the real satellite against the real ``python -m wyoming_rtx``.

``test_direct.py`` checks the satellite's side of DESIGN §4 against a scripted server; here
nothing is scripted. The satellite (openwakeword on the bundled model, silero VAD, the direct
client) hears ``wake_command.wav`` ("Hey Jarvis! Turn on the kitchen light."), the server
(bundled whisper, intents, demo home, piper voice; no ``--ollama-url``, so no LLM) transcribes
and handles it and speaks the answer, and the satellite plays it and reports ``played``.

Evidence comes from three independent places, so a shortcut in any one of them shows:
- a recording relay (:class:`Tap`) between the two: the events exactly as sent on the wire;
- the server itself: its ``/api/status`` turn traces (``played`` mark, answer source) and
  its log (the demo home's state change, which lives only in the server's memory);
- the satellite: its loop's detections, its client's transcripts/answers, its sound output.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from server_proc import RunningServer, launch, stop
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.handle import Handled
from wyoming_helpers import free_port, normalize, to_16k_mono, transcribe

from satellite.app import Seams, run_direct
from satellite.settings import (
    DirectSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    WakeSettings,
)
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm

SATELLITE = "kitchen satellite"
STATE_CHANGE = "light.kitchen_light: off -> on"
"""The demo home's log line for the command (its state is in memory: the log is the record)."""


@dataclasses.dataclass
class Served:
    """A real server process plus the port of its status page (``--http-uri``)."""

    server: RunningServer
    http_port: int

    async def status(self) -> dict[str, Any]:
        """The server's own view: connected satellites and finished turns (newest first)."""
        url = f"http://127.0.0.1:{self.http_port}/api/status"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            response.raise_for_status()
            return await response.json()


def serve(tmp: Path, port: int, http_port: int) -> Served:
    """Start the server on a *given* port, so a restart comes back where the satellite looks.

    ``launch`` picks a free port and passes it as ``--uri``; a second ``--uri`` after it wins
    (argparse keeps the last value), which is how the restart reuses the same address.
    """
    running = launch(
        tmp, "--uri", f"tcp://127.0.0.1:{port}", "--http-uri", f"http://127.0.0.1:{http_port}"
    )
    return Served(dataclasses.replace(running, port=port), http_port)


@contextlib.asynccontextmanager
async def served_server(tmp: Path) -> AsyncIterator[Served]:
    """One server for one test; stopped (cleanly: exit code 0) at the end."""
    served = await asyncio.to_thread(serve, tmp, free_port(), free_port())
    try:
        yield served
    finally:
        code = await asyncio.to_thread(stop, served.server)
        assert code == 0, served.server.log()


class Tap:
    """A TCP relay that records every Wyoming event in both directions, as sent.

    The satellite's client keeps no copy of the raw answer stream (its player converts audio
    to the speaker's format) and the server does not echo ``played``; the tap sees both.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.to_server: list[Event] = []
        self.to_satellite: list[Event] = []
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            self._pump(reader, up_writer, self.to_server),
            self._pump(up_reader, writer, self.to_satellite),
        )

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: list[Event]
    ) -> None:
        try:
            while (event := await async_read_event(reader)) is not None:
                log.append(event)
                await async_write_event(event, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()  # one side gone: end the other pump too


def kinds(events: list[Event]) -> list[str]:
    """Event types without the keep-alives, which interleave anywhere."""
    return [e.type for e in events if e.type not in ("ping", "pong")]


def similarity(said: str, heard: str) -> float:
    """Word-level similarity 0..1 of two texts after normalising case and punctuation."""
    return difflib.SequenceMatcher(None, normalize(said).split(), normalize(heard).split()).ratio()


async def poll(condition: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Await ``condition()`` (a coroutine function) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def test_wake_word_turn_through_the_real_server(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    command = sat_manifest["wake_command.wav"]["text"].split(",", 1)[1]  # after "hey jarvis,"
    played_wav = tmp_path / "played.wav"
    settings = SatelliteSettings(
        name=SATELLITE,
        area="Kitchen",
        # At real-time pace, as a microphone delivers it: the server ends the turn when the
        # command is complete (voice-stopped), which depends on when the audio arrives.
        mic=MicSettings(
            file=fixtures / "wake_command.wav", tail_silence_seconds=3.0, realtime=True
        ),
        snd=SndSettings(file=played_wav),
        wake=WakeSettings(names=("hey_jarvis",)),
    )
    async with served_server(tmp_path) as served:
        tap = Tap(served.server.port)
        tap_port = await tap.start()
        try:
            run = await asyncio.wait_for(
                run_direct(
                    settings,
                    DirectSettings(server_uri=f"tcp://127.0.0.1:{tap_port}"),
                    Seams(engine=oww_engine),
                ),
                timeout=40,
            )
        finally:
            await tap.stop()

        # The server's side: a finished local turn that the satellite reported as played.
        async def played_turn() -> dict[str, Any] | None:
            turns = (await served.status())["turns"]
            return next((t for t in turns if "played" in t["marks"]), None)

        trace = await poll(played_turn, 10, "server never saw played")
        status = await served.status()
        log = served.server.log()
        # The answer, transcribed back by the server's own speech recognition service.
        start = AudioStart.from_event(next(e for e in tap.to_satellite if e.type == "audio-start"))
        answer_pcm = b"".join(
            AudioChunk.from_event(e).audio for e in tap.to_satellite if e.type == "audio-chunk"
        )
        heard = await transcribe(
            served.server.port,
            to_16k_mono(answer_pcm, start.rate, start.channels),
            16000,
            2,
            1,
            trailing_silence=0.3,
        )

    # Satellite: exactly one wake word, the turn ended by the server's judgment that the
    # command was complete (not by the satellite's own silence rule, nor by the cap).
    wakes = [e for e in run.loop.events if e.kind == "wake"]
    assert [e.detail for e in wakes] == ["hey_jarvis"], run.loop.events
    ended = [e.detail for e in run.loop.events if e.kind == "turn_ended"]
    assert ended == ["complete"], run.loop.events
    assert trace["end_of_turn"] == "complete", trace

    # Wire, satellite -> server: DESIGN §4's order, then `played` after the answer.
    sent = kinds(tap.to_server)
    assert sent[:3] == ["info", "run-pipeline", "audio-start"], sent
    assert sent[-2:] == ["audio-stop", "played"], sent
    assert set(sent[3:-2]) == {"audio-chunk"}, sent

    # Wire, server -> satellite: transcript, handled, then the answer audio.
    # Nothing else: in particular no empty transcript from the plain speech-to-text
    # service for the audio-stop that follows voice-stopped (that audio-stop is the turn's).
    to_satellite = tap.to_satellite
    got = kinds(to_satellite)
    assert got[:2] == ["voice-started", "voice-stopped"], got
    assert got.count("transcript") == 1 and got.count("handled") == 1, got
    assert "not-handled" not in got and "error" not in got, got
    assert got.index("transcript") < got.index("handled") < got.index("audio-start"), got
    assert got[-1] == "audio-stop" and got.count("audio-start") == 1, got
    transcript = Transcript.from_event(next(e for e in to_satellite if e.type == "transcript"))
    handled = Handled.from_event(next(e for e in to_satellite if e.type == "handled"))
    assert normalize(transcript.text) == normalize(command), transcript.text
    assert run.client.transcripts == [transcript.text]
    assert run.client.answers == [(True, handled.text)]
    answer = handled.text or ""

    # The local answer (no LLM configured), and the home really changed.
    assert trace["source"] == "local" and trace["outcome"] == "done", trace
    assert trace["satellite"] == SATELLITE and trace["area"] == "Kitchen", trace
    assert normalize(trace["transcript"]) == normalize(command), trace
    assert trace["answer"] == answer, trace
    assert normalize(answer).startswith("turned on"), answer  # HassTurnOn's own response
    assert log.count(STATE_CHANGE) == 1, log

    # The answer audio: at the voice's own rate, real speech saying the answer text.
    assert start.rate == status["models"]["tts"]["sample_rate"], (start, status["models"])
    answer_seconds = len(answer_pcm) / (start.rate * start.width * start.channels)
    assert answer_seconds > 0.5, answer_seconds
    assert similarity(answer, heard.text) >= 0.75, (answer, heard.text)

    # And the satellite played it: its sound output holds the awake sound, the done sound
    # (cut short if the answer arrived while it played) and the whole answer.
    awake = wav_seconds(settings.snd.awake_wav) if settings.snd.awake_wav else 0.0
    done = wav_seconds(settings.snd.done_wav) if settings.snd.done_wav else 0.0
    played = wav_seconds(played_wav)
    assert answer_seconds + awake - 0.05 <= played <= answer_seconds + awake + done + 0.05


class PlaybackLog:
    """A sound sink that keeps each playback's length (seconds at the speaker's format)."""

    def __init__(self, settings: SndSettings) -> None:
        self.bytes_per_second = settings.rate * settings.width * settings.channels
        self.playbacks: list[float] = []
        self._size = 0

    async def start(self) -> None:
        self._size = 0

    async def write(self, pcm: bytes) -> None:
        self._size += len(pcm)

    async def finish(self) -> None:
        self.playbacks.append(self._size / self.bytes_per_second)

    async def abort(self) -> None:
        await self.finish()


async def test_satellite_reconnects_after_a_server_restart(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    command = sat_manifest["wake_command.wav"]["text"].split(",", 1)[1]
    wake_pcm = read_pcm(fixtures / "wake_command.wav")
    mic = QueueMic()
    snd = SndSettings()
    sink = PlaybackLog(snd)
    settings = SatelliteSettings(
        name=SATELLITE, area="Kitchen", snd=snd, wake=WakeSettings(names=("hey_jarvis",))
    )
    port, http_port = free_port(), free_port()
    direct = DirectSettings(
        server_uri=f"tcp://127.0.0.1:{port}", reconnect_seconds=0.1, reconnect_max_seconds=0.5
    )

    async def connected(served: Served) -> bool:
        satellites = (await served.status())["satellites"]
        return any(s["name"] == SATELLITE for s in satellites)

    async def turn(served: Served) -> dict[str, Any]:
        """Speak the wake phrase and command; return the server's trace once played."""
        mic.feed(wake_pcm)

        async def played() -> dict[str, Any] | None:
            turns = (await served.status())["turns"]
            return next((t for t in turns if "played" in t["marks"]), None)

        return await poll(played, 20, "turn not played")

    served = await asyncio.to_thread(serve, tmp_path, port, http_port)
    task = asyncio.create_task(
        run_direct(settings, direct, Seams(mic_factory=lambda: mic, sink=sink, engine=oww_engine))
    )
    traces = []
    try:
        await poll(lambda: connected(served), 10, "satellite never connected")
        traces.append(await turn(served))
        assert served.server.log().count(STATE_CHANGE) == 1

        # Restart on the same port while the satellite keeps running (and listening).
        assert await asyncio.to_thread(stop, served.server) == 0, served.server.log()
        await asyncio.sleep(0.5)  # a few refused reconnects
        assert not task.done()
        served = await asyncio.to_thread(serve, tmp_path, port, http_port)
        await poll(lambda: connected(served), 10, "satellite did not reconnect")
        traces.append(await turn(served))
        assert served.server.log().count(STATE_CHANGE) == 1  # a fresh demo home, changed again

        mic.end()
        run = await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        code = await asyncio.to_thread(stop, served.server)
    assert code == 0

    assert run.client.connections == 2
    kinds_seen = [e.kind for e in run.loop.events]
    assert kinds_seen.count("wake") == 2 and "turn_refused" not in kinds_seen, run.loop.events
    # The same audio wakes it at the same point both times (the refractory period after the
    # first detection must not run on into the second turn and clip its first word).
    fed = len(wake_pcm) / 32000
    offsets = [e.audio_seconds % fed for e in run.loop.events if e.kind == "wake"]
    assert offsets[1] == pytest.approx(offsets[0], abs=0.1), offsets
    heard = [normalize(t) for t in run.client.transcripts]
    assert heard == [normalize(command)] * 2, run.client.transcripts
    assert [handled for handled, _ in run.client.answers] == [True, True], run.client.answers
    for trace in traces:
        assert trace["source"] == "local" and trace["satellite"] == SATELLITE, trace
        assert normalize(trace["transcript"]) == normalize(command), trace
    # Both answers reached the speaker: two playbacks longer than any feedback sound.
    feedback = max(wav_seconds(p) for p in (snd.awake_wav, snd.done_wav) if p)
    assert sum(seconds > feedback + 0.3 for seconds in sink.playbacks) == 2, sink.playbacks
