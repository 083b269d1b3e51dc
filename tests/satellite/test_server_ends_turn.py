"""Direct mode when the server judges the end of the turn (issue 19): ``voice-started`` leaves
the satellite only a long fallback rule, ``voice-stopped`` ends the turn at once (even with no
more microphone audio), and an answer arriving during the "done" sound cuts it short."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.handle import Handled
from wyoming.vad import VoiceStarted, VoiceStopped

from satellite.app import Seams, run_direct
from satellite.audio_out import AnswerPlayer, Speaker
from satellite.settings import DirectSettings, SndSettings
from satellite.wake import WakeEngine
from wyoming_rtx.audio.endpoint import SATELLITE_FALLBACK_SECONDS

from .conftest import QueueMic, read_pcm, wait_for
from .test_barge_in import RATE, PacedSink
from .test_direct import _free_port, _settings


class JudgingServer:
    """Plays our server's part: voice-started at the first audio, voice-stopped after
    `stop_after` seconds of the turn's audio (never, when None), the answer at audio-stop."""

    def __init__(self, stop_after: float | None) -> None:
        self.stop_after = stop_after
        self.events: list[Event] = []
        self.turn_bytes = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", _free_port())
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    def types(self) -> list[str]:
        return [e.type for e in self.events if e.type not in ("ping", "pong")]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stopped = False
        try:
            while (event := await async_read_event(reader)) is not None:
                self.events.append(event)
                if event.type == "run-pipeline":
                    self.turn_bytes, stopped = 0, False
                elif event.type == "audio-chunk":
                    if self.turn_bytes == 0:
                        await async_write_event(VoiceStarted().event(), writer)
                    self.turn_bytes += len(event.payload or b"")
                    limit = self.stop_after
                    if limit is not None and self.turn_bytes >= limit * 32000 and not stopped:
                        stopped = True
                        await async_write_event(VoiceStopped().event(), writer)
                elif event.type == "audio-stop":
                    await self._answer(writer)
        except (ConnectionError, OSError):
            pass

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        await async_write_event(Transcript(text="turn on the kitchen light").event(), writer)
        await async_write_event(Handled(text="Turned on the kitchen light").event(), writer)
        await async_write_event(AudioStart(rate=22050, width=2, channels=1).event(), writer)
        tone = b"\x10\x00" * 11025
        await async_write_event(
            AudioChunk(rate=22050, width=2, channels=1, audio=tone).event(), writer
        )
        await async_write_event(AudioStop().event(), writer)


async def _run(tmp_path: Path, engine: WakeEngine, server: JudgingServer, audio: bytes):
    port = await server.start()
    mic = QueueMic()
    settings = _settings(tmp_path)
    settings = dataclasses.replace(
        settings, snd=dataclasses.replace(settings.snd, awake_wav=None, done_wav=None)
    )
    task = asyncio.create_task(
        run_direct(
            settings,
            DirectSettings(server_uri=f"tcp://127.0.0.1:{port}"),
            Seams(mic_factory=lambda: mic, engine=engine),
        )
    )
    try:
        await wait_for(lambda: "info" in server.types())
        mic.feed(audio)
        await wait_for(lambda: "played" in server.types(), 15)
        mic.end()
        return await asyncio.wait_for(task, 15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()


async def test_voice_stopped_ends_the_turn_without_more_audio(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    meta = sat_manifest["wake_command.wav"]
    # The wake phrase and the command, then nothing more from the microphone: only the
    # server's voice-stopped can end this turn (the satellite's own rule needs more audio).
    audio = read_pcm(fixtures / "wake_command.wav")[: int((meta["speech_end_s"] + 0.1) * 16000) * 2]
    server = JudgingServer(stop_after=1.0)
    run = await _run(tmp_path, oww_engine, server, audio)
    ended = [e.detail for e in run.loop.events if e.kind == "turn_ended"]
    assert ended == ["complete"], run.loop.events
    types = server.types()
    assert "voice-stopped" not in types, types  # the server ended it; the satellite says so
    assert types[-2:] == ["audio-stop", "played"], types
    assert run.client.answers == [(True, "Turned on the kitchen light")]


async def test_voice_started_leaves_only_the_fallback_rule(
    tmp_path: Path, fixtures: Path, sat_manifest: dict, oww_engine: WakeEngine
) -> None:
    meta = sat_manifest["wake_command.wav"]
    speech = read_pcm(fixtures / "wake_command.wav")[: int(meta["speech_end_s"] * 16000) * 2]
    audio = speech + bytes(int(16000 * (SATELLITE_FALLBACK_SECONDS + 1.0)) * 2)
    server = JudgingServer(stop_after=None)  # judges, but never says the turn is over
    run = await _run(tmp_path, oww_engine, server, audio)
    ended = [e.detail for e in run.loop.events if e.kind == "turn_ended"]
    assert ended == ["silence"], run.loop.events
    # The satellite's own 500 ms did not end it: it waited out the fallback's silence.
    silence_sent = server.turn_bytes / 32000 - (meta["speech_end_s"] - meta["wake_end_s"])
    assert silence_sent >= SATELLITE_FALLBACK_SECONDS - 0.1, silence_sent


class CountingSink(PacedSink):
    """A paced speaker that also counts how often it was opened."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1


async def _answer(player: AnswerPlayer, seconds: float) -> None:
    player.handle_event(AudioStart(rate=RATE, width=2, channels=1).event())
    pcm = bytes(int(RATE * seconds) * 2)
    player.handle_event(AudioChunk(rate=RATE, width=2, channels=1, audio=pcm).event())
    player.handle_event(AudioStop().event())


async def test_an_answer_takes_over_the_done_sound_and_its_open_speaker() -> None:
    sink = CountingSink()
    speaker = Speaker(SndSettings(rate=RATE, device="none"), sink=sink)
    done = SndSettings().done_wav
    assert done is not None
    played: list[bool] = []

    async def report() -> None:
        played.append(True)

    player = AnswerPlayer(speaker, report, set())
    cue = asyncio.create_task(speaker.play_wav(done, hold=3.0))
    await asyncio.sleep(0.05)
    assert speaker.cue_playing
    await _answer(player, 0.2)
    await asyncio.wait_for(player.done.wait(), 2)
    await asyncio.wait_for(cue, 2)  # the hold ended with the answer, not after 3 s
    assert (sink.starts, sink.aborted) == (1, 0)  # one open speaker for both
    assert sink.played_seconds - 0.2 < 0.15, sink.played_seconds  # of the sound's 0.22 s
    assert played == [True]


async def test_the_speaker_is_held_open_for_the_answer() -> None:
    sink = CountingSink()
    speaker = Speaker(SndSettings(rate=RATE, device="none"), sink=sink)
    player = AnswerPlayer(speaker, _nothing, set())
    hold = asyncio.create_task(speaker.play_wav(None, hold=3.0))  # no "done" sound at all
    await asyncio.sleep(0.5)
    assert sink.starts == 1 and speaker.playing  # opened before the answer came
    await _answer(player, 0.1)
    await asyncio.wait_for(player.done.wait(), 2)
    await asyncio.wait_for(hold, 2)
    assert sink.starts == 1 and abs(sink.played_seconds - 0.1) < 0.01


async def test_a_hold_without_an_answer_closes_and_a_sound_ends_it_early() -> None:
    sink = CountingSink()
    speaker = Speaker(SndSettings(rate=RATE, device="none"), sink=sink)
    await asyncio.wait_for(speaker.play_wav(None, hold=0.2), 2)  # nobody answered
    assert not speaker.playing and sink.starts == 1
    hold = asyncio.create_task(speaker.play_wav(None, hold=30.0))
    await asyncio.sleep(0.05)
    # The next turn's "awake" sound does not wait out the hold.
    await asyncio.wait_for(speaker.play_wav(SndSettings().awake_wav), 2)
    await asyncio.wait_for(hold, 1)
    assert sink.starts == 3


async def _nothing() -> None:
    return None
