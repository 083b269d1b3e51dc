"""Sound devices that refuse 16 kHz, as many USB microphones and HAT sound cards do.

ALSA's own virtual plugins (``null``, ``file``) accept any rate, so the satellite's fallback
to a device's rate could only be tested against a stand-in PortAudio (test_sound_device.py).
Here a real ALSA device takes only 48 kHz, 16-bit, stereo: a small I/O plugin
(fixed48_plugin.c, built with gcc against ALSA's headers), loaded by ALSA from an asoundrc
in a scratch HOME, paced by the clock like hardware. PortAudio itself refuses 16 kHz on it,
so the satellite's real path runs: probe the formats, open at 48 kHz, convert to 16 kHz mono
for the wake word and VAD, and convert answers to 48 kHz for the speaker.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from .sound_support import ROOT, peak_hz, play_answer, run_child

PLUGIN_SOURCE = Path(__file__).with_name("fixed48_plugin.c")

pytestmark = [
    pytest.mark.skipif(
        ctypes.util.find_library("portaudio") is None,
        reason="PortAudio is not installed (apt install libportaudio2)",
    ),
    pytest.mark.skipif(
        shutil.which("gcc") is None or not Path("/usr/include/alsa/pcm_external.h").exists(),
        reason="building the test device needs gcc and ALSA's headers (apt install gcc "
        "libasound2-dev; script/setup all installs them)",
    ),
]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 48 kHz-only device's ALSA plugin, built once for the module."""
    built = tmp_path_factory.mktemp("alsa-plugin") / "libasound_module_pcm_fixed48.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-DPIC", "-O2", "-o", str(built), str(PLUGIN_SOURCE)]
        + ["-lasound", "-lm"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return built


def _home(tmp_path: Path, plugin: Path) -> Path:
    (tmp_path / ".asoundrc").write_text(
        textwrap.dedent(
            f"""\
            pcm_type.fixed48 {{ lib "{plugin}" }}
            pcm.mic48 {{ type fixed48; hint {{ show on; description "48 kHz microphone" }} }}
            pcm.spk48 {{
                type fixed48; file "{tmp_path / "played.raw"}"
                hint {{ show on; description "48 kHz speaker" }}
            }}
            """
        )
    )
    return tmp_path


def test_the_test_device_really_refuses_16k(tmp_path: Path, plugin: Path) -> None:
    """PortAudio refuses 16 and 22.05 kHz on it and takes 48 kHz: the tests below mean it."""
    result = run_child(
        _home(tmp_path, plugin),
        """
        import json
        import sounddevice as sd

        def takes(check, device, rate):
            try:
                check(device=device, samplerate=rate, channels=2, dtype="int16")
                return True
            except Exception:
                return False

        print(json.dumps({
            "mic": [takes(sd.check_input_settings, "mic48", r) for r in (16000, 22050, 48000)],
            "spk": [takes(sd.check_output_settings, "spk48", r) for r in (16000, 22050, 48000)],
        }))
        """,
    )
    assert result == {"mic": [False, False, True], "spk": [False, False, True]}


def test_a_48k_only_microphone_is_opened_at_its_rate_and_heard_as_16k_mono(
    tmp_path: Path, plugin: Path
) -> None:
    """The satellite's defaults (16 kHz mono wanted): it opens the device at 48 kHz, says so
    once, and the wake word and VAD get 16 kHz mono with the device's 440 Hz tone intact."""
    result = run_child(
        _home(tmp_path, plugin),
        """
        import asyncio, json, logging
        from satellite.audio_in import SoundDeviceMic
        from satellite.settings import MicSettings

        lines = []
        class Record(logging.Handler):
            def emit(self, record):
                lines.append(record.getMessage())
        logging.getLogger("satellite").addHandler(Record())
        logging.getLogger("satellite").setLevel(logging.INFO)

        async def main():
            mic = SoundDeviceMic(MicSettings(device="mic48"))
            await mic.open()
            pcm = b"".join([await mic.read() for _ in range(40)])
            await mic.close()
            open("heard.raw", "wb").write(pcm)
            print(json.dumps({"format": mic.format, "bytes": len(pcm), "lines": lines}))

        asyncio.run(main())
        """,
    )
    assert result["format"][0] == 48000
    assert result["bytes"] == 40 * 512 * 2, "40 blocks of 32 ms at 16 kHz 16-bit mono"
    assert any("opened at 48000 Hz" in line for line in result["lines"]), result["lines"]
    heard = np.frombuffer((tmp_path / "heard.raw").read_bytes(), dtype=np.int16)
    assert abs(peak_hz(heard.tobytes(), 16000) - 440) < 5
    assert 4000 < np.abs(heard[1600:]).max() <= 8200, "the tone's level survives the conversion"


def test_a_48k_only_speaker_plays_a_22k_answer(tmp_path: Path, plugin: Path) -> None:
    """Piper's 22.05 kHz mono answer on a speaker that takes only 48 kHz: opened at 48 kHz
    and converted, about one second of audio reaches the device, the tone at its pitch."""
    home = _home(tmp_path, plugin)
    result = play_answer(home, 'device="spk48"')
    assert result["ok"] is True and result["format"][0] == 48000
    frames = np.frombuffer((home / "played.raw").read_bytes(), dtype=np.int16).reshape(-1, 2)
    assert abs(len(frames) - 48000) <= 48000 * 0.1, f"{len(frames)} frames for a 1 s answer"
    assert abs(peak_hz(frames.tobytes(), 48000, channels=2) - 440) < 5


def test_the_satellite_lists_the_48k_devices(tmp_path: Path, plugin: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "satellite", "--list-devices"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(_home(tmp_path, plugin)), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mic48" in proc.stdout and "spk48" in proc.stdout
    assert "48000 Hz" in proc.stdout, proc.stdout
