"""Audio in/out supervision: a dying mic command, a failing speaker, format conversion."""

from __future__ import annotations

import asyncio
import logging
import sys
import wave
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk

from satellite.audio_out import Speaker
from satellite.mic_supervisor import MicSupervisor
from satellite.settings import MicSettings, SndSettings
from satellite.sinks import CommandSink, FileSink

from .conftest import read_pcm


async def test_a_dying_mic_command_is_restarted_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="satellite")
    raw = tmp_path / "burst.raw"
    raw.write_bytes(b"\x01\x00" * 4096)  # 8 chunks, then the command exits
    settings = MicSettings(command=f"cat {raw}", restart_seconds=0.05, restart_max_seconds=0.1)
    supervisor = MicSupervisor(settings)
    received = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    stream = supervisor.stream()
    async for pcm in stream:
        received += len(pcm)
        if received >= 3 * 8192:
            break
    await stream.aclose()
    assert supervisor.restarts >= 2
    assert loop.time() - started >= 2 * 0.05  # it waited before each restart
    ended = [r for r in caplog.records if "microphone ended" in r.getMessage()]
    # Each restart's audio resets the backoff and the warning: still one line per outage.
    assert all("exit code 0" in r.getMessage() for r in ended)


async def test_a_mic_command_that_never_works_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="satellite")
    supervisor = MicSupervisor(
        MicSettings(command="exit 3", restart_seconds=0.01, restart_max_seconds=0.02)
    )
    stream = supervisor.stream()
    task = asyncio.create_task(anext(stream))  # type: ignore[arg-type]
    for _ in range(500):
        if supervisor.restarts >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lines = [r for r in caplog.records if "microphone ended (exit code 3)" in r.getMessage()]
    assert len(lines) >= 4
    assert [r.levelno for r in lines].count(logging.WARNING) == 1


async def test_a_failing_speaker_is_logged_and_the_next_sound_plays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out.raw"
    state = {"broken": True}

    class FlakySink(CommandSink):
        async def start(self) -> None:
            self.command = "exit 1" if state["broken"] else f"cat > {out}"
            await super().start()

    speaker = Speaker(SndSettings(), FlakySink("unused"))
    assert await speaker.play_wav(SndSettings().done_wav) is False
    assert speaker.failures == 1 and "Sound output failed" in caplog.text
    state["broken"] = False
    assert await speaker.play_wav(SndSettings().done_wav) is True
    assert out.stat().st_size > 0
    assert not speaker.playing


async def test_answers_are_converted_to_the_output_format(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    settings = SndSettings(rate=16000, file=out)
    speaker = Speaker(settings, FileSink(out, 16000, 2, 1))
    queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
    queue.put_nowait(AudioChunk(22050, 2, 2, b"\x00\x01" * 2 * 22050))  # 1 s stereo 22050
    queue.put_nowait(None)
    assert await speaker.play(queue)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        assert wav.getnframes() == pytest.approx(16000, abs=20)


async def test_stdin_mic_reads_raw_pcm(fixtures: Path) -> None:
    """``--mic-file -``: raw 16 kHz s16le from stdin, in a subprocess like a real pipe."""
    pcm = read_pcm(fixtures / "wake_command.wav")[:32000]
    code = (
        "import asyncio\n"
        "from pathlib import Path\n"
        "from satellite.mic_supervisor import MicSupervisor\n"
        "from satellite.settings import MicSettings\n"
        "async def main():\n"
        "    n = 0\n"
        "    async for pcm in MicSupervisor(MicSettings(file=Path('-'),"
        " tail_silence_seconds=0)).stream():\n"
        "        n += len(pcm)\n"
        "    print(n)\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(pcm), timeout=30)
    assert int(out) == len(pcm)


async def test_a_mic_command_that_stalls_is_noticed_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A recorder whose USB device vanished may hang rather than exit: no audio for
    ``stall_seconds`` restarts it, with a warning that names the command. This one stalls
    after every start, so each start is an outage of its own, then audio again."""
    caplog.set_level(logging.DEBUG, logger="satellite")
    command = "head -c 8192 /dev/zero; exec sleep 30"
    settings = MicSettings(
        command=command, stall_seconds=0.3, restart_seconds=0.05, restart_max_seconds=0.05
    )
    supervisor = MicSupervisor(settings)
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    stream = supervisor.stream()
    async for pcm in stream:
        received += len(pcm)
        if supervisor.restarts >= 2:
            break
    await stream.aclose()
    assert received >= 2 * 8192
    assert loop.time() - started < 2 * (0.3 + 0.05) + 2.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("printed no audio for 0.3 s" in w for w in warnings)
    assert command in warnings[0]
    assert len([r for r in caplog.records if r.getMessage() == "Microphone is back"]) == 2
