"""Where sound goes: a command's stdin, a sound device, a file, or nowhere, one playback at
a time in the sink's own format (the speaker, audio_out.py, converts to it).
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from . import sound_device
from .pcm import PcmConverter
from .settings import SndSettings


class SoundSink(Protocol):
    """One playback at a time, in the sink's fixed output format."""

    async def start(self) -> None: ...

    async def write(self, pcm: bytes) -> None: ...

    async def finish(self) -> None:
        """Return once everything written has been played (or stored)."""
        ...

    async def abort(self) -> None:
        """Stop now, dropping what is buffered (barge-in)."""
        ...


class CommandSink:
    """A process reading raw PCM on stdin (``aplay ... -t raw``), one process per playback
    so a device that vanished is reopened on the next sound."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_shell(
            self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def write(self, pcm: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(pcm)
        await self._proc.stdin.drain()

    async def finish(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.close()
            await proc.stdin.wait_closed()
        except (BrokenPipeError, ConnectionResetError):
            pass
        code = await proc.wait()
        if code != 0:
            raise RuntimeError(f"sound command exited with code {code}")

    async def abort(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()  # what the player still buffers must not be heard
            await proc.wait()


class FileSink:
    """Appends everything played to a file: raw PCM, or a WAV when the name ends in .wav."""

    def __init__(self, path: Path, rate: int, width: int, channels: int) -> None:
        self.path = Path(path)
        self._format = (rate, width, channels)
        self._pcm = bytearray()
        self._all = bytearray()

    async def start(self) -> None:
        self._pcm.clear()

    async def write(self, pcm: bytes) -> None:
        self._pcm += pcm

    async def finish(self) -> None:
        self._all += self._pcm
        data, self._pcm = bytes(self._pcm), bytearray()
        await asyncio.to_thread(self._store, data)

    async def abort(self) -> None:
        await self.finish()  # a file keeps what was "played" up to the interruption

    def _store(self, data: bytes) -> None:
        if self.path.suffix.lower() != ".wav":
            with open(self.path, "ab") as out:
                out.write(data)
            return
        rate, width, channels = self._format
        with wave.open(str(self.path), "wb") as wav:
            wav.setframerate(rate)
            wav.setsampwidth(width)
            wav.setnchannels(channels)
            wav.writeframes(bytes(self._all))


class NullSink:
    """No speaker: sounds are dropped (still 'played', so the protocol flows)."""

    async def start(self) -> None:
        return None

    async def write(self, pcm: bytes) -> None:
        return None

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class SoundDeviceSink:
    """A PortAudio output through ``sounddevice``, in a format the device accepts.

    Sounds arrive in the settings' format (``--snd-rate``/``--snd-channels``); a device that
    refuses it (many only play 44.1 or 48 kHz stereo) is opened at what it offers and the
    audio converted. Opening, writing (it blocks at playback pace) and closing run in a thread
    under a time limit, so a vanished device fails the playback instead of hanging the loop.
    """

    def __init__(
        self, device: str, rate: int, width: int, channels: int, open_seconds: float = 5.0
    ) -> None:
        self.device = device
        self._format = (rate, width, channels)
        self._open_seconds = open_seconds
        self._stream: object | None = None
        self._convert: PcmConverter | None = None
        self._bytes_per_second = 1
        self.format: tuple[int, int] | None = None
        """(rate, channels) the device was opened with."""

    @property
    def name(self) -> str:
        return sound_device.describe(self.device)

    async def start(self) -> None:
        self._stream = await self._in_thread(self._open_blocking, "open")

    def _open_blocking(self) -> object:
        rate, _width, channels = self._format
        with sound_device.opening(self.device, "output") as sd:
            device_rate, device_channels = sound_device.pick_format(
                sd, self.device, "output", rate, channels
            )
            self.format = (device_rate, device_channels)
            self._convert = PcmConverter(self._format, (device_rate, 2, device_channels))
            self._bytes_per_second = device_rate * 2 * device_channels
            try:
                stream = sd.RawOutputStream(
                    samplerate=device_rate,
                    channels=device_channels,
                    dtype="int16",
                    device=sound_device.device_id(self.device),
                )
                sound_device.start(stream)
            except Exception as err:
                raise RuntimeError(f"cannot open speaker {self.name}: {err}") from err
        return stream

    async def write(self, pcm: bytes) -> None:
        stream = self._stream
        assert stream is not None and self._convert is not None
        data = self._convert.convert(pcm)
        if data:
            playing = len(data) / self._bytes_per_second
            await self._in_thread(lambda: stream.write(data), "play", playing)  # type: ignore[attr-defined]

    async def finish(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await self._in_thread(
                lambda: sound_device.close(stream, drain=True), "finish playing", 30.0
            )

    async def abort(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await self._in_thread(lambda: sound_device.close(stream), "stop")

    async def _in_thread(self, work: Callable[[], object], what: str, extra: float = 0.0) -> object:
        """Run blocking PortAudio work in a thread; a device that hangs is an error."""
        task = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._open_seconds + extra)
        except Exception as err:
            sound_device.lost(self.device, "output")  # the next open lists the devices again
            if isinstance(err, TimeoutError):
                limit = self._open_seconds + extra
                raise RuntimeError(f"speaker {self.name} did not {what} in {limit:g} s") from None
            raise


def make_sink(settings: SndSettings) -> SoundSink:
    if settings.command:
        return CommandSink(settings.command)
    if settings.file is not None:
        return FileSink(settings.file, settings.rate, settings.width, settings.channels)
    if settings.device is not None and settings.device != "none":
        return SoundDeviceSink(settings.device, settings.rate, settings.width, settings.channels)
    return NullSink()
