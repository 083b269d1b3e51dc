"""The sounddevice (PortAudio) mic and speaker, against a stand-in ``sounddevice`` module.

CI has no sound card, so a fake module plays PortAudio's part exactly as the library's API
shapes it: ``RawInputStream`` calls ``callback(data, frames, time, status)`` from its own
thread with raw bytes, ``RawOutputStream.write`` blocks. What is tested is our side: device
names, the thread hand-off, the bounded queue, format, start/stop/close.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import types
from typing import Any

import pytest

from satellite.audio_in import SoundDeviceMic, make_mic
from satellite.settings import MicSettings, SndSettings
from satellite.sinks import SoundDeviceSink, make_sink


class FakeStream:
    def __init__(self, blocks: int = 300, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.blocks = blocks
        self.started = self.stopped = self.closed = False
        self.written: list[bytes] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = True
        callback = self.kwargs.get("callback")
        if callback is not None:  # an input: deliver its blocks from PortAudio's own thread
            block = self.kwargs["blocksize"]
            size = block * self.kwargs["channels"] * 2

            def deliver() -> None:
                for n in range(self.blocks):
                    callback(bytes([n % 256]) * size, block, None, "")

            self._thread = threading.Thread(target=deliver)
            self._thread.start()

    def write(self, pcm: bytes) -> None:
        time.sleep(0.001)  # blocking, as PortAudio's write is
        self.written.append(pcm)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self.stopped = True

    abort = stop

    def close(self) -> None:
        self.closed = True


class FakeStreams(list[FakeStream]):
    """The streams opened, and the (rate, channels) the fake device accepts (None: any)."""

    accepts: set[tuple[int, int]] | None = None
    deliveries: list[int] | None = None
    """Blocks each input stream delivers before it stalls, in opening order (default 300)."""


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> FakeStreams:
    streams = FakeStreams()
    module = types.ModuleType("sounddevice")

    def stream(**kwargs: Any) -> FakeStream:
        blocks = 300
        if streams.deliveries and "callback" in kwargs:
            blocks = streams.deliveries.pop(0)
        streams.append(FakeStream(blocks, **kwargs))
        return streams[-1]

    def query_devices(device: object = None, kind: str | None = None) -> dict[str, Any]:
        return {
            "name": f"fake {device}",
            "max_input_channels": 2,
            "max_output_channels": 2,
            "default_samplerate": 48000.0,
        }

    def check(device: object, samplerate: int, channels: int, dtype: str) -> None:
        if streams.accepts is not None and (samplerate, channels) not in streams.accepts:
            raise ValueError(f"Invalid sample rate {samplerate} / channels {channels}")

    module.RawInputStream = stream  # type: ignore[attr-defined]
    module.RawOutputStream = stream  # type: ignore[attr-defined]
    module.query_devices = query_devices  # type: ignore[attr-defined]
    module.check_input_settings = check  # type: ignore[attr-defined]
    module.check_output_settings = check  # type: ignore[attr-defined]
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
    assert sink.format == (48000, 2)
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


async def test_a_48k_stereo_only_microphone_is_opened_as_it_is_and_heard_at_16k_mono(
    fake_sounddevice: FakeStreams,
) -> None:
    fake_sounddevice.accepts = {(48000, 2), (44100, 2)}
    mic = SoundDeviceMic(MicSettings(device="USB mic"))
    await mic.open()
    stream = fake_sounddevice[0]
    assert (stream.kwargs["samplerate"], stream.kwargs["channels"]) == (48000, 2)
    assert stream.kwargs["blocksize"] == 1536, "32 ms blocks at the device's rate"
    assert mic.format == (48000, 2)
    pcm = await mic.read()
    assert pcm is not None and len(pcm) == 512 * 2, "one 32 ms block of 16 kHz 16-bit mono"
    await mic.close()


async def test_a_device_that_accepts_nothing_usable_is_an_error_that_names_it(
    fake_sounddevice: FakeStreams,
) -> None:
    fake_sounddevice.accepts = {(8000, 1)}
    mic = SoundDeviceMic(MicSettings(device="Broken HAT"))
    with pytest.raises(RuntimeError, match="'Broken HAT'.*accepts none of 16000, 48000"):
        await mic.open()
    sink = SoundDeviceSink("Broken HAT", 22050, 2, 1)
    with pytest.raises(RuntimeError, match="sound output 'Broken HAT'"):
        await sink.start()


async def test_answers_reach_a_48k_stereo_only_speaker_converted(
    fake_sounddevice: FakeStreams,
) -> None:
    import asyncio

    from wyoming.audio import AudioChunk

    from satellite.audio_out import Speaker

    fake_sounddevice.accepts = {(48000, 2)}
    speaker = Speaker(SndSettings(device="default"))
    queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
    queue.put_nowait(AudioChunk(22050, 2, 1, b"\x10\x00" * 22050))  # one second at 22.05 kHz
    queue.put_nowait(None)
    assert await speaker.play(queue)
    stream = fake_sounddevice[0]
    assert (stream.kwargs["samplerate"], stream.kwargs["channels"]) == (48000, 2)
    played = b"".join(stream.written)
    assert abs(len(played) / 4 - 48000) <= 3, "one second of 48 kHz stereo 16-bit"


async def test_a_stalled_microphone_is_noticed_reopened_and_warned_about_once(
    fake_sounddevice: FakeStreams, caplog: pytest.LogCaptureFixture
) -> None:
    """The first stream delivers, then stalls as an unplugged USB microphone does; the next
    three openings deliver nothing (still unplugged); the fifth delivers again (plugged back
    in). Each stall is noticed within ``stall_seconds``; the outage is one WARNING, its end
    one INFO."""
    import asyncio
    import logging

    from satellite.mic_supervisor import MicSupervisor

    caplog.set_level(logging.DEBUG, "satellite")
    fake_sounddevice.deliveries = [300, 0, 0, 0, 300]
    settings = MicSettings(
        device="USB mic", stall_seconds=0.3, restart_seconds=0.05, restart_max_seconds=0.05
    )
    supervisor = MicSupervisor(settings)
    chunks = 0
    started = time.monotonic()
    async with contextlib.aclosing(supervisor.stream()) as stream:  # closes the fifth device
        async for _pcm in stream:
            chunks += 1
            if len(fake_sounddevice) == 5:  # audio from the fifth opening: it is back
                break
    elapsed = time.monotonic() - started
    await asyncio.sleep(0)
    assert chunks > 256 and supervisor.restarts == 4
    assert elapsed < 4 * (0.3 + 0.05) + 1.0, "each stall noticed within stall_seconds"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "microphone failed: microphone 'USB mic' delivered no audio for 0.3 s (unplugged?);"
        " restarting in 0.1 s"
    ]
    back = [r for r in caplog.records if r.getMessage() == "Microphone is back"]
    assert len(back) == 1 and back[0].levelno == logging.INFO
    assert all(s.closed for s in fake_sounddevice)


def test_with_no_option_the_satellite_uses_the_default_microphone_and_speaker() -> None:
    from satellite.cli import build_parser, settings_from_args
    from satellite.sinks import NullSink

    parser = build_parser()
    settings = settings_from_args(parser, parser.parse_args([]))
    assert (settings.mic.device, settings.snd.device) == ("default", "default")
    assert isinstance(make_sink(settings.snd), SoundDeviceSink)
    silent = settings_from_args(parser, parser.parse_args(["--snd-device", "none"]))
    assert isinstance(make_sink(silent.snd), NullSink)
    to_file = settings_from_args(parser, parser.parse_args(["--snd-file", "out.wav"]))
    assert to_file.snd.device is None
