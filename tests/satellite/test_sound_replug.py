"""A USB microphone plugged (back) in while the satellite runs, through PortAudio and ALSA.

PortAudio lists the devices once, when it starts: a device that was not there then (a USB
microphone unplugged at start, or plugged back in as a new card) stays unknown to it. Here
the ALSA configuration in a scratch HOME (sound_support.asoundrc) first has no `usbmic`;
after the satellite's microphone has failed on it, the test adds it (ALSA reads a changed
configuration again at the next open), and the microphone must be heard within seconds:
the satellite restarts PortAudio, so that it lists the devices again, when it reopens a
device that failed, but only while no other stream is open (``Pa_Terminate`` closes every
stream of the process, the speaker's too).
"""

from __future__ import annotations

import ctypes.util
from pathlib import Path

import pytest

from .sound_support import asoundrc, peak_hz, run_child, sine

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="PortAudio is not installed (apt install libportaudio2)",
)

_PREAMBLE = """
import asyncio, json, logging, os, time
from satellite.mic_supervisor import MicSupervisor
from satellite.settings import MicSettings
from satellite.sinks import SoundDeviceSink

events = []
class Record(logging.Handler):
    def emit(self, record):
        events.append((time.monotonic(), record.levelname, record.getMessage()))
logging.getLogger("satellite").addHandler(Record())
logging.getLogger("satellite").setLevel(logging.DEBUG)
marks = {}

def plug_in(device_conf):
    # A new file (a new inode): ALSA notices the change even within the same second.
    config = open(".asoundrc").read() + open(device_conf).read()
    open(".asoundrc.new", "w").write(config)
    os.replace(".asoundrc.new", ".asoundrc")
    marks["plugged"] = time.monotonic()
"""
"""The children's common start: their log records, marks, and plugging a device in."""

_CHILD = (
    _PREAMBLE
    + """

async def main(with_speaker):
    settings = MicSettings(device="usbmic", restart_seconds=0.2, restart_max_seconds=0.4)
    supervisor = MicSupervisor(settings)
    speaker = SoundDeviceSink("fakespk", 16000, 2, 1) if with_speaker else None
    written = 0
    async def play():  # 20 ms pieces at speaking pace while the microphone is away
        nonlocal written
        await speaker.start()
        while "speaker done" not in marks:
            await speaker.write(bytes(640))
            written += 640
            await asyncio.sleep(0.02)
        await speaker.finish()
        marks["speaker closed"] = time.monotonic()
    async def outage():
        while supervisor.restarts < 2:  # failed, and failed again once retried
            await asyncio.sleep(0.02)
        plug_in("usbmic.conf")
        if speaker is not None:
            restarts = supervisor.restarts
            while supervisor.restarts < restarts + 3:  # three more tries with the speaker on
                await asyncio.sleep(0.02)
            marks["speaker done"] = time.monotonic()
    playing = asyncio.create_task(play()) if speaker is not None else None
    tasks = [asyncio.create_task(outage())]
    heard = b""
    async def listen():
        nonlocal heard
        async for pcm in supervisor.stream():
            heard += pcm
            marks.setdefault("heard", time.monotonic())
            if len(heard) >= 16000:  # half a second
                return
    await asyncio.wait_for(listen(), 12)
    if playing is not None:
        await playing
    print(json.dumps({"marks": marks, "events": events, "written": written}))
    open("heard.raw", "wb").write(heard)

asyncio.run(main(WITH_SPEAKER))
"""
)


def _usb_mic(home: Path) -> None:
    """The ALSA device the test plugs in later: a 440 Hz tone at 16 kHz mono."""
    (home / "tone.raw").write_bytes(sine(16000, 20.0, channels=1))
    (home / "usbmic.conf").write_text(
        f'pcm.usbmic {{ type file; slave.pcm "null"; file "/dev/null"; '
        f'infile "{home / "tone.raw"}"; format "raw"\n'
        f'    hint {{ show on; description "USB microphone plugged in later" }} }}\n'
    )
    (home / "silence.raw").write_bytes(bytes(32000))
    asoundrc(home, home / "silence.raw")  # fakemic and fakespk, no usbmic yet


def test_a_microphone_plugged_in_later_is_found_and_heard(tmp_path: Path) -> None:
    _usb_mic(tmp_path)
    result = run_child(tmp_path, _CHILD.replace("WITH_SPEAKER", "False"), timeout=30)
    marks, events = result["marks"], result["events"]
    warnings = [msg for _t, level, msg in events if level == "WARNING"]
    assert len(warnings) == 1 and "no sound input 'usbmic'" in warnings[0], warnings
    found = [(t, msg) for t, level, msg in events if level == "INFO" and "listed again" in msg]
    assert len(found) == 1, events
    assert found[0][1] == "Sound devices listed again: found input 'usbmic' (usbmic)"
    assert found[0][0] >= marks["plugged"]
    back = [t for t, _level, msg in events if msg == "Microphone is back"]
    assert len(back) == 1 and back[0] - marks["plugged"] < 2.0
    heard = (tmp_path / "heard.raw").read_bytes()
    assert abs(peak_hz(heard, 16000) - 440) < 5, "the plugged-in microphone's tone"


def test_portaudio_is_not_restarted_under_an_open_speaker(tmp_path: Path) -> None:
    """The speaker plays while the microphone is plugged in: PortAudio is not restarted (it
    would close the speaker's stream) and the speaker plays on; once the speaker is closed,
    the next try restarts it and finds the microphone."""
    _usb_mic(tmp_path)
    result = run_child(tmp_path, _CHILD.replace("WITH_SPEAKER", "True"), timeout=30)
    marks, events = result["marks"], result["events"]
    skipped = [
        t
        for t, _level, msg in events
        if msg.startswith("Not listing sound devices again for input 'usbmic': 1 stream(s) open")
    ]
    assert all(t < marks["speaker closed"] for t in skipped)
    assert len([t for t in skipped if t > marks["plugged"]]) >= 3, "tried with the speaker on"
    found = [t for t, level, msg in events if level == "INFO" and "found input 'usbmic'" in msg]
    assert len(found) == 1 and found[0] >= marks["speaker closed"]
    assert marks["heard"] > marks["speaker closed"]
    played = (tmp_path / "played.raw").stat().st_size
    assert played == result["written"] > 0, "every piece written while the mic was away played"


_SPEAKER_CHILD = (
    _PREAMBLE
    + """
heard = bytearray()

async def main():
    supervisor = MicSupervisor(MicSettings(device="fakemic"))
    async def listen():
        async for pcm in supervisor.stream():
            heard.extend(pcm)
    listening = asyncio.create_task(listen())
    while len(heard) < 8000:
        await asyncio.sleep(0.01)
    speaker = SoundDeviceSink("usbspk", 16000, 2, 1)
    tries = []
    async def play():
        try:
            await speaker.start()
        except RuntimeError as err:
            tries.append(str(err))
            return False
        for _ in range(25):  # half a second of 1 kHz
            await speaker.write(TONE[:640])
        await speaker.finish()
        tries.append("played")
        return True
    await play()  # unplugged: fails, the speaker is lost
    plug_in("usbspk.conf")
    await play()  # PortAudio's list is the old one, and the microphone's stream is open
    for _ in range(500):
        if any("Reopening the microphone" in msg for _t, _l, msg in events):
            break
        await asyncio.sleep(0.01)
    marks["before reopen"] = len(heard)
    while len(heard) < marks["before reopen"] + 16000:  # the microphone goes on
        await asyncio.sleep(0.01)
    await play()
    listening.cancel()
    print(json.dumps({"marks": marks, "events": events, "tries": tries,
                      "restarts": supervisor.restarts}))

TONE = open("tone880.raw", "rb").read()
asyncio.run(main())
"""
)


def test_a_speaker_plugged_back_in_is_found_while_the_microphone_runs(tmp_path: Path) -> None:
    """A USB speaker back as a new card: the microphone, the one stream open, makes way once
    (no outage, no WARNING) so that PortAudio lists the devices again, and the next answer
    plays on the speaker."""
    (tmp_path / "mic.raw").write_bytes(sine(16000, 30.0, channels=1))
    (tmp_path / "tone880.raw").write_bytes(sine(16000, 0.02, channels=1, hz=1000.0))
    (tmp_path / "usbspk.conf").write_text(
        f'pcm.usbspk {{ type file; slave.pcm "null"; file "{tmp_path / "usbspk.raw"}"; '
        f'format "raw"\n    hint {{ show on; description "USB speaker plugged back in" }} }}\n'
    )
    asoundrc(tmp_path, tmp_path / "mic.raw")
    result = run_child(tmp_path, _SPEAKER_CHILD, timeout=30)
    tries, events = result["tries"], result["events"]
    assert len(tries) == 3 and "usbspk" in tries[0] and "usbspk" in tries[1], tries
    assert tries[2] == "played"
    assert result["restarts"] == 0, "making way is no outage"
    assert not [msg for _t, level, msg in events if level == "WARNING"]
    reopened = [t for t, _l, msg in events if "Reopening the microphone" in msg]
    assert len(reopened) == 1 and reopened[0] > result["marks"]["plugged"]
    played = (tmp_path / "usbspk.raw").read_bytes()
    assert len(played) >= 25 * 640 and abs(peak_hz(played, 16000) - 1000) < 10
