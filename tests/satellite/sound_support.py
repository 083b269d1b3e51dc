"""Helpers of the sound-device tests that run PortAudio through ALSA's virtual devices
(test_sound_alsa.py, test_sound_fixed_rate.py): a child process per check, test tones, and
an answer played through the satellite's speaker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def asoundrc(home: Path, infile: Path) -> None:
    """ALSA devices in a scratch HOME: `fakemic` reads `infile` (a file or a FIFO), `fakespk`
    records to home/played.raw; the default device is the pair."""
    (home / ".asoundrc").write_text(
        textwrap.dedent(
            f"""\
            pcm.!default {{ type asym; playback.pcm "fakespk"; capture.pcm "fakemic" }}
            pcm.fakemic {{
                type file; slave.pcm "null"; file "/dev/null"; infile "{infile}"; format "raw"
                hint {{ show on; description "test microphone" }}
            }}
            pcm.fakespk {{
                type file; slave.pcm "null"; file "{home / "played.raw"}"; format "raw"
                hint {{ show on; description "test speaker" }}
            }}
            """
        )
    )


def run_child(home: Path, code: str, timeout: float = 60) -> dict:
    """Run ``code`` in a child with HOME=home; it prints one JSON object last."""
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=home,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sine(rate: int, seconds: float, channels: int, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    wave = (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)
    return np.repeat(wave[:, None], channels, axis=1).tobytes()


def peak_hz(pcm: bytes, rate: int, channels: int = 1) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).reshape(-1, channels)[:, 0].astype(float)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def play_answer(home: Path, speaker_settings: str) -> dict:
    """One second of a 440 Hz tone at piper's 22.05 kHz mono, played through the satellite's
    Speaker made with ``SndSettings(speaker_settings)`` in a child with HOME=home; the
    child's result: whether it played, and the (rate, channels) the device was opened with."""
    (home / "answer.raw").write_bytes(sine(22050, 1.0, channels=1))
    return run_child(
        home,
        f"""
        import asyncio, json
        from wyoming.audio import AudioChunk
        from satellite.audio_out import Speaker
        from satellite.settings import SndSettings

        async def main():
            speaker = Speaker(SndSettings({speaker_settings}))
            queue = asyncio.Queue()
            queue.put_nowait(AudioChunk(22050, 2, 1, open("answer.raw", "rb").read()))
            queue.put_nowait(None)
            ok = await speaker.play(queue)
            print(json.dumps({{"ok": ok, "format": speaker.sink.format}}))

        asyncio.run(main())
        """,
    )
