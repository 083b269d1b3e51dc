"""Barge-in: the wake word heard while an answer plays stops it at once and starts a new turn;
with ``--no-barge-in`` it is ignored and the answer plays to the end. The real satellite loop
and wake engine; a scripted server sends a 6 s answer; the speaker plays at real-time pace."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import async_write_event

from satellite.app import Seams, run_direct
from satellite.settings import DirectSettings
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .test_direct import FakeServer, _free_port, _settings

ANSWER_SECONDS = 6.0
RATE = 22050


class LongAnswerServer(FakeServer):
    """Every turn is answered with ANSWER_SECONDS of tone, sent at once (as piper renders)."""

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        await async_write_event(AudioStart(rate=RATE, width=2, channels=1).event(), writer)
        tone = b"\x00\x10" * int(RATE * ANSWER_SECONDS)
        for i in range(0, len(tone), 4096):
            chunk = AudioChunk(rate=RATE, width=2, channels=1, audio=tone[i : i + 4096])
            await async_write_event(chunk.event(), writer)
        await async_write_event(AudioStop().event(), writer)


class PacedSink:
    """A speaker that takes as long as the sound lasts, and counts what it really played."""

    def __init__(self) -> None:
        self.played_seconds = 0.0
        self.aborted = 0

    async def start(self) -> None:
        return None

    async def write(self, pcm: bytes) -> None:
        seconds = len(pcm) / (RATE * 2)
        await asyncio.sleep(seconds)
        self.played_seconds += seconds

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        self.aborted += 1


async def _run(tmp_path: Path, fixtures: Path, engine: WakeEngine, barge_in: bool):
    port = _free_port()
    server = LongAnswerServer(port)
    await server.start()
    mic, sink = QueueMic(), PacedSink()
    settings = dataclasses.replace(_settings(tmp_path), barge_in=barge_in)
    settings = dataclasses.replace(
        settings, snd=dataclasses.replace(settings.snd, awake_wav=None, done_wav=None)
    )
    task = asyncio.create_task(
        run_direct(
            settings,
            DirectSettings(server_uri=f"tcp://127.0.0.1:{port}"),
            Seams(mic_factory=lambda: mic, sink=sink, engine=engine),
        )
    )
    wake_only = read_pcm(fixtures / "wake_only.wav")[: int(2.2 * 16000) * 2]
    try:
        await wait_for(lambda: "info" in server.types())
        mic.feed(read_pcm(fixtures / "wake_command.wav"))
        await wait_for(lambda: sink.played_seconds > 0.5, 20)  # the answer is playing
        mic.feed(wake_only)  # "Hey Jarvis" into the microphone, over the answer
        await wait_for(lambda: mic.queue.empty())
        await asyncio.sleep(0.3)
        runs = server.types().count("run-pipeline")
        played_when_heard = sink.played_seconds
        mic.end()
        await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    return runs, played_when_heard, sink


async def test_the_wake_word_stops_the_answer_and_starts_a_turn(
    tmp_path: Path, fixtures: Path, oww_engine: WakeEngine
) -> None:
    runs, played, sink = await _run(tmp_path, fixtures, oww_engine, barge_in=True)
    assert runs == 2, "the wake word over the answer started a new turn"
    assert sink.aborted >= 1, "the answer was cut, not played out"
    assert played < ANSWER_SECONDS - 2.0, played


async def test_without_barge_in_the_answer_plays_out(
    tmp_path: Path, fixtures: Path, oww_engine: WakeEngine
) -> None:
    runs, _played, sink = await _run(tmp_path, fixtures, oww_engine, barge_in=False)
    assert runs == 1, "the wake word during the answer was ignored"
    assert sink.aborted == 0
    assert sink.played_seconds == pytest.approx(ANSWER_SECONDS, abs=0.05)
