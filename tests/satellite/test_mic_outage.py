"""A microphone that disappears mid-turn (a USB microphone pulled out while the user speaks).

The turn's rules count audio, so a silent microphone would leave the turn open until it came
back, or forever. The satellite ends the turn at once with what it heard (the server answers
that), warns once, and listens again when the microphone is back. The real satellite loop,
wake engine and direct-mode client against a scripted server.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import pytest

from satellite.app import Seams, run_direct
from satellite.audio_in import MicStalled
from satellite.settings import DirectSettings
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .sound_support import ROOT, asoundrc
from .test_direct import FakeServer, _free_port, _settings

_STALL = b"stall"


class UnpluggableMic(QueueMic):
    """A live microphone the test can pull out: the read after ``unplug`` raises MicStalled,
    as SoundDeviceMic does once no audio came for ``stall_seconds``."""

    restartable = True

    async def read(self) -> bytes | None:
        pcm = await super().read()
        if pcm == _STALL:
            raise MicStalled("microphone 'usb' delivered no audio for 1 s (unplugged?)")
        return pcm

    def unplug(self) -> None:
        self.queue.put_nowait(_STALL)


async def test_a_microphone_lost_mid_turn_ends_the_turn_and_comes_back(
    tmp_path: Path,
    fixtures: Path,
    sat_manifest: dict,
    oww_engine: WakeEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeServer(_free_port())
    await server.start()
    unplugged, replugged = UnpluggableMic(), UnpluggableMic()
    replugged.restartable = False  # its end is the end of the run
    sources = iter([unplugged, replugged])
    settings = _settings(tmp_path)
    settings = dataclasses.replace(
        settings,
        mic=dataclasses.replace(settings.mic, restart_seconds=0.05, restart_max_seconds=0.1),
        snd=dataclasses.replace(settings.snd, awake_wav=None, done_wav=None),
    )
    task = asyncio.create_task(
        run_direct(
            settings,
            DirectSettings(server_uri=f"tcp://127.0.0.1:{server.port}"),
            Seams(mic_factory=lambda: next(sources), engine=oww_engine),
        )
    )
    clip = read_pcm(fixtures / "wake_command.wav")
    info = sat_manifest["wake_command.wav"]
    # The wake word and the first words of the command, then the microphone is pulled out
    # while the user is still speaking: nothing in the audio ends this turn.
    mid_command = int((info["command_start_s"] + 0.5) * 16000) * 2
    try:
        with caplog.at_level(logging.INFO, logger="satellite"):
            await wait_for(lambda: "info" in server.types())
            unplugged.feed(clip[:mid_command])
            await wait_for(lambda: "run-pipeline" in server.types())
            await wait_for(lambda: unplugged.queue.empty())
            assert "audio-stop" not in server.types(), "the turn was still open"
            unplugged.unplug()
            await wait_for(lambda: "audio-stop" in server.types(), 5)
            # Back: a new turn is heard through the replugged microphone.
            replugged.feed(clip)
            await wait_for(lambda: server.types().count("run-pipeline") == 2, 20)
            await wait_for(lambda: server.types().count("audio-stop") == 2, 20)
            replugged.end()
            await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "delivered no audio" in warnings[0].getMessage(), warnings
    assert "End of turn: mic_lost" in caplog.text
    assert "Microphone is back" in caplog.text


@pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio is not installed (apt install libportaudio2)",
)
async def test_an_alsa_microphone_that_goes_silent_mid_turn_ends_the_turn(
    tmp_path: Path, fixtures: Path, sat_manifest: dict
) -> None:
    """The same through the real sound path: `python -m satellite` on an ALSA microphone (a
    FIFO the test writes at speaking pace, test_sound_alsa.py) that goes silent in the middle
    of the command. PortAudio's read stalls as on an unplugged USB microphone; within the
    1.5 s stall limit and a little, the server has the turn's `audio-stop`."""
    server = FakeServer(_free_port())
    await server.start()
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    asoundrc(tmp_path, fifo)
    hold = os.open(fifo, os.O_RDWR)  # opening the FIFO never blocks PortAudio's start
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "satellite",
        "--server-uri",
        f"tcp://127.0.0.1:{server.port}",
        "--mic-device",
        "fakemic",
        "--snd-device",
        "none",
        "--no-sounds",
        "--wake-word",
        "hey_jarvis",
        env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    clip = read_pcm(fixtures / "wake_command.wav")
    mid_command = int((sat_manifest["wake_command.wav"]["command_start_s"] + 0.5) * 16000) * 2
    try:
        await wait_for(lambda: "info" in server.types(), 30)
        await asyncio.sleep(1.0)  # the wake word model loads, the microphone opens
        for i in range(0, mid_command, 3200):  # 100 ms at a time, at speaking pace
            os.write(hold, clip[i : min(i + 3200, mid_command)])
            await asyncio.sleep(0.1)
        await wait_for(lambda: "run-pipeline" in server.types(), 5)
        silent_at = time.monotonic()
        await wait_for(lambda: "audio-stop" in server.types(), 10)
        ended_after = time.monotonic() - silent_at
    finally:
        proc.kill()
        output, _ = await proc.communicate()
        os.close(hold)
        await server.stop()
    log = output.decode(errors="replace")
    assert "End of turn: mic_lost" in log, log[-3000:]
    assert ended_after < 4.0, f"the turn ended {ended_after:.1f} s after the microphone went"
