"""The real sound path, PortAudio through ALSA, on virtual devices (no sound card needed).

An asoundrc in a scratch HOME defines the devices with ALSA's own plugins: a microphone whose
samples come from a file (``type file`` with an ``infile``), a speaker that records to a file
(``type file`` over ``null``). The microphone's infile can be a FIFO the test writes at
speaking pace: when the test stops writing, PortAudio's read blocks exactly as it does on an
unplugged USB microphone, and when it writes again the device "comes back".

Each check runs in a child process with that HOME: PortAudio reads the ALSA configuration
once, when it starts. A device that *refuses* 16 kHz is in test_sound_fixed_rate.py: ALSA's
``null`` and ``file`` plugins accept any rate, so it is a small I/O plugin of the tests' own.
The 48 kHz stereo path itself (opening, conversion to 16 kHz mono) is also checked here, by
asking these devices for 48 kHz stereo.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .sound_support import ROOT, asoundrc, peak_hz, play_answer, run_child, sine

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio is not installed (apt install libportaudio2)",
)


def test_list_devices_shows_the_alsa_devices(tmp_path: Path) -> None:
    asoundrc(tmp_path, tmp_path / "silence.raw")
    (tmp_path / "silence.raw").write_bytes(bytes(32000))
    proc = subprocess.run(
        [sys.executable, "-m", "satellite", "--list-devices"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fakemic" in proc.stdout and "fakespk" in proc.stdout
    assert "<>" in proc.stdout, "the default microphone and speaker are marked"


def test_a_48k_stereo_microphone_is_heard_as_16k_mono(tmp_path: Path) -> None:
    (tmp_path / "mic.raw").write_bytes(sine(48000, 2.0, channels=2))
    asoundrc(tmp_path, tmp_path / "mic.raw")
    result = run_child(
        tmp_path,
        """
        import asyncio, json
        from satellite.audio_in import SoundDeviceMic
        from satellite.settings import MicSettings

        async def main():
            mic = SoundDeviceMic(MicSettings(device="fakemic", rate=48000, channels=2))
            await mic.open()
            pcm = b"".join([await mic.read() for _ in range(40)])
            await mic.close()
            open("heard.raw", "wb").write(pcm)
            print(json.dumps({"format": mic.format, "bytes": len(pcm)}))

        asyncio.run(main())
        """,
    )
    assert result["format"] == [48000, 2]
    assert result["bytes"] == 40 * 512 * 2, "40 blocks of 32 ms at 16 kHz 16-bit mono"
    heard = (tmp_path / "heard.raw").read_bytes()
    assert abs(peak_hz(heard, 16000) - 440) < 5


def test_answers_play_on_the_default_speaker_at_the_rate_it_is_asked_for(tmp_path: Path) -> None:
    (tmp_path / "silence.raw").write_bytes(bytes(32000))
    asoundrc(tmp_path, tmp_path / "silence.raw")
    result = play_answer(tmp_path, 'device="default", rate=48000, channels=2')
    assert result == {"ok": True, "format": [48000, 2]}
    played = (tmp_path / "played.raw").read_bytes()
    assert abs(len(played) / 4 - 48000) <= 48000 * 0.05, "about one second of 48 kHz stereo"
    assert abs(peak_hz(played, 48000, channels=2) - 440) < 5


def test_a_microphone_that_disappears_is_noticed_and_reopened_when_back(tmp_path: Path) -> None:
    """Speaking-paced audio for 1 s, then nothing for 3 s (unplugged), then audio again: one
    WARNING within 2 s of the last audio, audio flows again after the device is back, and the
    event loop never stalls (device open and close run in threads)."""
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    asoundrc(tmp_path, fifo)
    result = run_child(
        tmp_path,
        f"""
        import asyncio, json, logging, os, threading, time
        # A writer end held open from the start, so that opening the FIFO never blocks
        # (PortAudio opens every device when it starts).
        hold = os.open({str(fifo)!r}, os.O_RDWR)
        from satellite.mic_supervisor import MicSupervisor
        from satellite.settings import MicSettings

        events = []
        class Record(logging.Handler):
            def emit(self, record):
                events.append((time.monotonic(), record.levelname, record.getMessage()))
        logging.getLogger("satellite").addHandler(Record())
        logging.getLogger("satellite").setLevel(logging.DEBUG)
        marks = {{}}

        def speak(seconds):
            for _ in range(int(seconds * 10)):
                os.write(hold, bytes(3200))  # 100 ms of 16 kHz 16-bit mono
                time.sleep(0.1)

        def writer():
            speak(1.0)
            marks["unplugged"] = time.monotonic()
            time.sleep(3.0)
            marks["back"] = time.monotonic()
            speak(4.0)

        async def main():
            settings = MicSettings(device="fakemic", restart_seconds=0.2, restart_max_seconds=0.5)
            gaps = []
            async def heartbeat():
                last = time.monotonic()
                while True:
                    await asyncio.sleep(0.02)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
            beat = asyncio.create_task(heartbeat())
            threading.Thread(target=writer, daemon=True).start()
            after_back = 0
            async def listen():
                nonlocal after_back
                async for pcm in MicSupervisor(settings).stream():
                    if "back" in marks:
                        after_back += len(pcm)
                        if after_back >= 16000:  # half a second heard after the replug
                            return
            await asyncio.wait_for(listen(), 20)
            beat.cancel()
            print(json.dumps({{"marks": marks, "events": events, "max_gap": max(gaps),
                               "after_back": after_back}}))
            os._exit(0)  # PortAudio threads still blocked on the FIFO: do not wait for them

        asyncio.run(main())
        """,
    )
    marks, events = result["marks"], result["events"]
    warnings = [(t, msg) for t, level, msg in events if level == "WARNING"]
    assert len(warnings) == 1, warnings
    noticed = warnings[0][0] - marks["unplugged"]
    assert noticed < 2.0, f"the stall was noticed {noticed:.2f} s after the last audio"
    assert "'fakemic' delivered no audio" in warnings[0][1]
    back = [t for t, level, msg in events if msg == "Microphone is back"]
    assert len(back) == 1 and back[0] >= marks["back"]
    assert result["after_back"] >= 16000
    assert result["max_gap"] < 0.5, f"the event loop stalled for {result['max_gap']:.2f} s"


def test_the_satellite_stops_on_sigint_even_when_the_device_outpaces_it(tmp_path: Path) -> None:
    """ALSA's file plugin delivers as fast as it is read: the listening loop always has a
    block waiting. It must still let the signal's cancel run (it used to keep the loop busy
    until the signal's wake-up was lost, and the satellite never stopped)."""
    import signal
    import time

    (tmp_path / "mic.raw").write_bytes(bytes(16000 * 2 * 60))
    asoundrc(tmp_path, tmp_path / "mic.raw")
    argv = [sys.executable, "-m", "satellite", "--server-uri", "tcp://127.0.0.1:9"]
    proc = subprocess.Popen(
        [*argv, "--mic-device", "fakemic", "--snd-device", "none", "--no-sounds"],
        env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(4)  # loads the wake word model, opens the device, listens
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-2000:]
    assert "Listening for ok_nabu" in out
