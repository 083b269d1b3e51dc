"""The sounddevice (PortAudio) mic and speaker, against a stand-in ``sounddevice`` module.

CI has no sound card, so a fake module plays PortAudio's part exactly as the library's API
shapes it: ``RawInputStream`` calls ``callback(data, frames, time, status)`` from its own
thread with raw bytes, ``RawOutputStream.write`` blocks. What is tested is our side: device
names, the thread hand-off, the bounded queue, format, start/stop/close.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

import pytest

from satellite.audio_in import SoundDeviceMic, make_mic
from satellite.audio_out import SoundDeviceSink, make_sink
from satellite.settings import MicSettings, SndSettings


class FakeStream:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.started = self.stopped = self.closed = False
        self.written: list[bytes] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = True
        callback = self.kwargs.get("callback")
        if callback is not None:  # an input: deliver 300 blocks from PortAudio's own thread
            block = self.kwargs["blocksize"]

            def deliver() -> None:
                for n in range(300):
                    callback(bytes([n % 256]) * block * 2, block, None, "")

            self._thread = threading.Thread(target=deliver)
            self._thread.start()

    def write(self, pcm: bytes) -> None:
        time.sleep(0.001)  # blocking, as PortAudio's write is
        self.written.append(pcm)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self.stopped = True

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> list[FakeStream]:
    streams: list[FakeStream] = []
    module = types.ModuleType("sounddevice")

    def stream(**kwargs: Any) -> FakeStream:
        streams.append(FakeStream(**kwargs))
        return streams[-1]

    module.RawInputStream = stream  # type: ignore[attr-defined]
    module.RawOutputStream = stream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return streams


async def test_mic_device_reads_16k_mono_blocks_and_drops_the_oldest_when_behind(
    fake_sounddevice: list[FakeStream],
) -> None:
    mic = make_mic(MicSettings(device="3"))
    assert isinstance(mic, SoundDeviceMic)
    await mic.open()
    stream = fake_sounddevice[0]
    assert stream.kwargs["device"] == 3, "a numeric name is a PortAudio device index"
    assert (stream.kwargs["samplerate"], stream.kwargs["channels"]) == (16000, 1)
    assert stream.kwargs["dtype"] == "int16"
    stream.stop()  # all 300 blocks delivered, none read yet: only the newest 256 are kept
    await _settle()
    blocks = [await mic.read() for _ in range(256)]
    assert blocks[0] is not None and blocks[0][0] == 300 - 256
    assert blocks[-1] is not None and blocks[-1][0] == 299 % 256
    await mic.close()
    assert stream.closed


async def test_default_device_names_map_to_portaudio_defaults(
    fake_sounddevice: list[FakeStream],
) -> None:
    mic = SoundDeviceMic(MicSettings(device="default"))
    await mic.open()
    assert fake_sounddevice[0].kwargs["device"] is None
    await mic.close()
    sink = SoundDeviceSink("USB Audio", 22050, 2, 1)
    await sink.start()
    assert fake_sounddevice[1].kwargs["device"] == "USB Audio"
    await sink.finish()


async def test_speaker_device_plays_in_its_format_off_the_loop(
    fake_sounddevice: list[FakeStream],
) -> None:
    sink = make_sink(SndSettings(device="1", rate=48000, width=2, channels=2))
    assert isinstance(sink, SoundDeviceSink)
    await sink.start()
    stream = fake_sounddevice[0]
    assert stream.kwargs == {"samplerate": 48000, "channels": 2, "dtype": "int16", "device": 1}
    await sink.write(b"\x01\x00" * 480)
    await sink.write(b"\x02\x00" * 480)
    await sink.finish()
    assert stream.written == [b"\x01\x00" * 480, b"\x02\x00" * 480]
    assert stream.stopped and stream.closed


async def _settle() -> None:
    """Let the loop run the callbacks PortAudio's thread scheduled with call_soon_threadsafe."""
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0.01)
