"""Microphone sources: a command, a file, a sound device (mic_supervisor.py keeps one alive).

Every source yields 16 kHz 16-bit mono PCM (converted with wyoming's ``AudioChunkConverter``)
in chunks of roughly 32 ms. A source either ends for good (a file: the run is over) or is
restartable (a command or sound device: it died, so start it again with backoff).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sys
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from wyoming.audio import AudioChunk, AudioChunkConverter

from . import sound_device
from .pcm import PcmConverter
from .settings import MIC_CHANNELS, MIC_RATE, MIC_WIDTH, MicSettings

_LOGGER = logging.getLogger(__name__)

CHUNK_SAMPLES = 512
CHUNK_BYTES = CHUNK_SAMPLES * MIC_WIDTH


class MicSource(Protocol):
    """One opened microphone."""

    restartable: bool
    """True when an end means "died" (restart it), False when it means "finished"."""

    async def open(self) -> None: ...

    async def read(self) -> bytes | None:
        """Next chunk of 16 kHz s16le mono, or None at the end."""
        ...

    async def close(self) -> None: ...


class _Converter:
    """Any raw PCM format to the satellite's 16 kHz 16-bit mono.

    numpy (``PcmConverter``) for 8, 16 and 32-bit audio: wyoming's converter uses audioop,
    which Python 3.13 removed (its pure-Python stand-in is ~100 times slower); 24-bit audio
    still goes through wyoming's.
    """

    def __init__(self, rate: int, width: int, channels: int) -> None:
        self._format = (rate, width, channels)
        self._frame = width * channels
        self._fast: PcmConverter | None = None
        if width in (1, 2, 4):
            self._fast = PcmConverter(self._format, (MIC_RATE, MIC_WIDTH, MIC_CHANNELS))
        self._converter = AudioChunkConverter(rate=MIC_RATE, width=MIC_WIDTH, channels=MIC_CHANNELS)

    def __call__(self, pcm: bytes) -> bytes:
        if self._fast is not None:
            return self._fast.convert(pcm)
        rate, width, channels = self._format
        usable = len(pcm) - len(pcm) % self._frame
        return self._converter.convert(AudioChunk(rate, width, channels, pcm[:usable])).audio


class MicStalled(RuntimeError):
    """The sound device stopped delivering audio (unplugged, stalled)."""


class CommandMic:
    """A process that prints raw PCM on stdout (``arecord ... -t raw``)."""

    restartable = True

    def __init__(self, settings: MicSettings) -> None:
        assert settings.command
        self.command = settings.command
        self._convert = _Converter(settings.rate, settings.width, settings.channels)
        self._read_bytes = CHUNK_SAMPLES * settings.width * settings.channels
        self._proc: asyncio.subprocess.Process | None = None
        self._settings = settings
        self._started = False

    async def open(self) -> None:
        self._proc = await asyncio.create_subprocess_shell(
            self.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )

    async def read(self) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        # A recorder whose device vanished can hang instead of exiting: silence longer than
        # stall_seconds (open_seconds for the first audio, while it starts) means stalled.
        wait = self._settings.stall_seconds if self._started else self._settings.open_seconds
        try:
            pcm = await asyncio.wait_for(self._proc.stdout.readexactly(self._read_bytes), wait)
        except TimeoutError:
            raise MicStalled(
                f"microphone command {self.command!r} printed no audio for {wait:g} s"
            ) from None
        except asyncio.IncompleteReadError as err:
            if not err.partial:
                with contextlib.suppress(TimeoutError):  # reap it, for the exit code in the log
                    await asyncio.wait_for(self._proc.wait(), timeout=1)
                return None
            pcm = err.partial
        self._started = True
        return self._convert(pcm)

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=2)
        except TimeoutError:
            proc.kill()
            await proc.wait()


class FileMic:
    """A WAV file (or raw PCM on stdin with ``-``) played as the microphone.

    Ends with ``tail_silence_seconds`` of silence so the last turn can finish. Paced at real
    time only when asked: tests and benchmarks read it as fast as the CPU allows, and every
    decision downstream is made on audio time, not wall time.
    """

    restartable = False

    def __init__(self, settings: MicSettings) -> None:
        assert settings.file is not None
        self.path = settings.file
        self.settings = settings
        self._chunks: list[bytes] = []
        self._stdin: asyncio.StreamReader | None = None
        self._convert = _Converter(settings.rate, settings.width, settings.channels)
        self._tail = int(settings.tail_silence_seconds * MIC_RATE / CHUNK_SAMPLES)
        self._started = 0.0
        self._sent = 0.0

    async def open(self) -> None:
        self._started = asyncio.get_running_loop().time()
        if str(self.path) == "-":
            loop = asyncio.get_running_loop()
            self._stdin = asyncio.StreamReader()
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(self._stdin), sys.stdin.buffer
            )
            return
        pcm = await asyncio.to_thread(_read_wav_16k, Path(self.path))
        self._chunks = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
        self._chunks.reverse()

    async def read(self) -> bytes | None:
        pcm = await self._next()
        if pcm is None:
            if self._tail <= 0:
                return None
            self._tail -= 1
            pcm = bytes(CHUNK_BYTES)
        if self.settings.realtime:
            self._sent += len(pcm) / (MIC_RATE * MIC_WIDTH)
            delay = self._started + self._sent - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let the connection tasks run between chunks
        return pcm

    async def _next(self) -> bytes | None:
        if self._stdin is not None:
            try:
                raw = await self._stdin.readexactly(CHUNK_SAMPLES * self.settings.width)
            except asyncio.IncompleteReadError as err:
                raw = err.partial
            return self._convert(raw) if raw else None
        return self._chunks.pop() if self._chunks else None

    async def close(self) -> None:
        self._chunks.clear()


def _read_wav_16k(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    return _Converter(rate, width, channels)(pcm)


class SoundDeviceMic:
    """A PortAudio input through ``sounddevice``, in whatever format the device offers.

    PortAudio calls back from its own thread with each block; the loop reads them from a
    bounded queue. Opening, probing and closing block (and hang on an unplugged USB device),
    so they run in a thread under a time limit. A device that delivers nothing for
    ``stall_seconds`` raises :class:`MicStalled`: the supervisor closes it and reopens it
    until it is back.
    """

    restartable = True

    def __init__(self, settings: MicSettings) -> None:
        self.device = settings.device
        self.settings = settings
        self._blocks: collections.deque[bytes] = collections.deque(maxlen=256)
        """Blocks from PortAudio's thread; a loop that falls behind loses the oldest."""
        self._arrived = asyncio.Event()
        self._wake_pending = False
        self._stream: object | None = None
        self._convert: PcmConverter | None = None
        self.format: tuple[int, int] | None = None
        """(rate, channels) the device was opened with."""

    @property
    def name(self) -> str:
        return sound_device.describe(self.device)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()

        def callback(data: Any, _frames: int, _time: object, status: object) -> None:
            if status:
                _LOGGER.debug("sounddevice input status: %s", status)
            self._blocks.append(bytes(data))
            # One wake-up at a time: a busy loop (or a device that delivers faster than real
            # time) must not fill the loop's self-pipe, which also carries SIGINT/SIGTERM.
            if not self._wake_pending:
                self._wake_pending = True
                with contextlib.suppress(RuntimeError):  # the loop is gone: shutting down
                    loop.call_soon_threadsafe(self._wake)

        try:
            self._stream = await asyncio.wait_for(
                asyncio.to_thread(self._open_blocking, callback), self.settings.open_seconds
            )
        except TimeoutError as err:
            raise MicStalled(
                f"microphone {self.name} did not open in {self.settings.open_seconds:g} s"
            ) from err

    def _open_blocking(self, callback: Callable[..., None]) -> object:
        with sound_device.opening(self.device, "input") as sd:
            rate, channels = sound_device.pick_format(
                sd, self.device, "input", self.settings.rate, self.settings.channels
            )
            self.format = (rate, channels)
            self._convert = PcmConverter((rate, 2, channels), (MIC_RATE, MIC_WIDTH, MIC_CHANNELS))
            try:
                stream = sd.RawInputStream(
                    samplerate=rate,
                    channels=channels,
                    dtype="int16",
                    blocksize=CHUNK_SAMPLES * rate // MIC_RATE,
                    device=sound_device.device_id(self.device),
                    callback=callback,
                )
                sound_device.start(stream)
            except Exception as err:
                raise RuntimeError(f"cannot open microphone {self.name}: {err}") from err
        if (rate, channels) != (MIC_RATE, MIC_CHANNELS):
            _LOGGER.info(
                "Microphone %s opened at %d Hz, %d channel(s): converted to 16 kHz mono",
                self.name,
                rate,
                channels,
            )
        return stream

    def _wake(self) -> None:
        self._wake_pending = False
        self._arrived.set()

    async def read(self) -> bytes | None:
        assert self._convert is not None
        pcm = b""
        while not pcm:  # a resampler may hold back a block too short to give a sample
            try:
                block = await self._next_block()
            except TimeoutError:
                raise MicStalled(
                    f"microphone {self.name} delivered no audio for "
                    f"{self.settings.stall_seconds:g} s (unplugged?)"
                ) from None
            pcm = self._convert.convert(block)
        return pcm

    async def _next_block(self) -> bytes:
        """The oldest block PortAudio delivered; TimeoutError after ``stall_seconds``."""
        deadline = asyncio.get_running_loop().time() + self.settings.stall_seconds
        while not self._blocks:
            self._arrived.clear()
            if self._blocks:  # arrived between the check and the clear
                break
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError
            await asyncio.wait_for(self._arrived.wait(), left)
        else:
            # A backlog (or a device faster than real time) is read without waiting: still
            # let the other tasks (the server link, a signal's cancel) run between blocks.
            await asyncio.sleep(0)
        return self._blocks.popleft()

    async def close(self) -> None:
        # Closed only to be reopened after a failure (or at the end): PortAudio lists the
        # devices again first, in case it was unplugged and comes back as a new card.
        sound_device.lost(self.device, "input")
        stream, self._stream = self._stream, None
        if stream is None:
            return
        closing = asyncio.ensure_future(asyncio.to_thread(sound_device.close, stream))
        closing.add_done_callback(_quietly)
        try:
            await asyncio.wait_for(asyncio.shield(closing), _CLOSE_WAIT_SECONDS)
        except TimeoutError:
            # PortAudio waits for a device read that never returns (an unplugged USB device
            # can do that): leave that thread behind rather than the microphone.
            _LOGGER.debug("Microphone %s did not close; left to PortAudio", self.name)


def _quietly(task: asyncio.Future[None]) -> None:
    """A close that failed after we stopped waiting for it: nothing left to do but log."""
    if not task.cancelled() and task.exception() is not None:
        _LOGGER.debug("Closing a microphone failed: %r", task.exception())


_CLOSE_WAIT_SECONDS = 1.0
"""How long a restart waits for PortAudio to let go of a device before reopening it."""


def make_mic(settings: MicSettings) -> MicSource:
    """The source the settings name (the command line, ``cli``, sets exactly one)."""
    if settings.command:
        return CommandMic(settings)
    if settings.file is not None:
        return FileMic(settings)
    return SoundDeviceMic(settings)
