"""Sound output: the speaker that never lets a sink failure break a turn (and holds it open
for an answer), and the player for answer audio streamed over Wyoming. The sinks themselves
are in sinks.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event

from .pcm import PcmConverter
from .settings import SndSettings
from .sinks import SoundSink, make_sink

_LOGGER = logging.getLogger(__name__)


_HAND_OVER = AudioChunk(rate=0, width=0, channels=0, audio=b"")
"""Put in a feedback sound's queue: an answer takes over its open sink from here."""


class Speaker:
    """Plays sounds one at a time, converting them to the sink's format.

    A failing sink is logged and the playback abandoned; the next playback starts afresh, so
    a broken speaker never stops the satellite from taking the next turn.

    A feedback sound played with ``hold`` keeps the sink open after it ends, and an answer
    that arrives meanwhile (or while the sound still plays, cutting the rest of it) is played
    through that same open sink: the speaker path is open before the answer comes, and the
    answer does not wait behind the "done" sound or a device's open (a process spawn for
    ``--snd-command``).
    """

    def __init__(self, settings: SndSettings, sink: SoundSink | None = None) -> None:
        self.settings = settings
        self.sink = sink or make_sink(settings)
        self._lock = asyncio.Lock()
        self.playing = False
        self._chunks: asyncio.Queue[AudioChunk | None] | None = None
        self._interrupted = False
        self.cue_playing = False
        """A feedback sound (``play_wav``) plays or holds the sink: an answer takes it over."""
        self._hand_over: tuple[asyncio.Queue[AudioChunk | None], asyncio.Future[bool]] | None
        self._hand_over = None
        """The answer taking over a feedback sound's sink: its chunks and its result."""
        self._held: asyncio.Queue[AudioChunk | None] | None = None
        """The queue of a feedback sound that holds the sink open (``play_wav(hold=)``)."""
        self.failures = 0
        self.failing = False
        """The last playback failed: the next failure is not warned about again."""

    async def play(self, chunks: asyncio.Queue[AudioChunk | None], cue: bool = False) -> bool:
        """Play chunks until a None arrives; False if the sink failed (logged).

        cue: a feedback sound, which an answer takes over while it plays or holds the sink
        (the answer's ``play`` returns when it has played there); another sound ends a hold
        and waits for the first one's end."""
        if cue:
            if self._held is not None and self._held is not chunks:
                self._held.put_nowait(None)
        else:
            taken = self._take_over(chunks)
            if taken is not None:
                return await taken
        target = (self.settings.rate, self.settings.width, self.settings.channels)
        converter: PcmConverter | None = None
        async with self._lock:
            self.playing, self.cue_playing = True, cue
            self._chunks, self._interrupted = chunks, False
            ok = True
            ended = False
            try:
                await self.sink.start()
                while (chunk := await chunks.get()) is not None and not self._interrupted:
                    if chunk is _HAND_OVER and self._hand_over is not None:
                        chunks = self._chunks = self._hand_over[0]
                        self.cue_playing = False
                        continue
                    source = (chunk.rate, chunk.width, chunk.channels)
                    if converter is None or converter.src != source:
                        converter = PcmConverter(source, target)
                    await self.sink.write(converter.convert(chunk.audio))
                ended = True
                if self._interrupted:
                    await self.sink.abort()
                else:
                    await self.sink.finish()
                if self.failing:
                    _LOGGER.info("Sound output is back")
                    self.failing = False
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - a dead speaker must not end the satellite
                ok = False
                self.failures += 1
                # One warning per outage: a speaker that stays unplugged fails every sound.
                log = _LOGGER.debug if self.failing else _LOGGER.warning
                log("Sound output failed: %s", err if isinstance(err, RuntimeError) else repr(err))
                self.failing = True
                with contextlib.suppress(Exception):
                    await self.sink.finish()  # reap a half-started player process
                while not ended:
                    ended = await chunks.get() is None  # drain what the producer still sends
            finally:
                self.playing = self.cue_playing = False
                self._chunks = None
                hand_over, self._hand_over = self._hand_over, None
                if hand_over is not None and not hand_over[1].done():
                    hand_over[1].set_result(ok)
            return ok

    @property
    def holding(self) -> bool:
        """The sink is held open for an answer and its sound has all been handed out."""
        held = self._held
        return held is not None and held.empty() and self._chunks is held

    def release(self) -> None:
        """No answer is coming: end a hold now (the sink closes)."""
        if self._held is not None:
            self._held.put_nowait(None)

    def _take_over(self, chunks: asyncio.Queue[AudioChunk | None]) -> asyncio.Future[bool] | None:
        """Play `chunks` in the feedback sound's open sink, dropping what it has not played."""
        cue_queue = self._chunks
        if not self.cue_playing or cue_queue is None or self._hand_over is not None:
            return None
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._hand_over = (chunks, done)
        while not cue_queue.empty():
            cue_queue.get_nowait()
        cue_queue.put_nowait(_HAND_OVER)
        return done

    def interrupt(self) -> None:
        """Stop the sound playing now (barge-in): the rest of it is dropped, not played."""
        if self._chunks is not None:
            self._interrupted = True
            self._chunks.put_nowait(None)

    async def play_wav(self, path: Path | None, hold: float = 0.0) -> bool:
        """Play a short feedback sound (awake, done, timer); None plays nothing.

        In 20 ms pieces: a sound device's write blocks at playback pace, so an answer that
        arrives while it plays takes over at the next piece. hold: keep the sink open this
        long after the sound (even with no sound) for an answer to take over."""
        pcm, fmt = b"", (self.settings.rate, self.settings.width, self.settings.channels)
        if path is not None:
            try:
                fmt, pcm = await asyncio.to_thread(_read_wav, path)
            except (OSError, wave.Error, EOFError) as err:
                _LOGGER.warning("Cannot read sound %s: %s", path, err)
                if hold <= 0:
                    return False
        if not pcm and hold <= 0:
            return True
        rate, width, channels = fmt
        piece = max(1, rate // 50) * width * channels
        queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        for offset in range(0, len(pcm), piece):
            queue.put_nowait(AudioChunk(*fmt, pcm[offset : offset + piece]))
        if hold <= 0:
            queue.put_nowait(None)
            return await self.play(queue, cue=True)
        seconds = hold + len(pcm) / (rate * width * channels)
        timer = asyncio.get_running_loop().call_later(seconds, queue.put_nowait, None)
        self._held = queue
        try:
            return await self.play(queue, cue=True)
        finally:
            timer.cancel()
            if self._held is queue:
                self._held = None


def _read_wav(path: Path) -> tuple[tuple[int, int, int], bytes]:
    """A WAV's (rate, width, channels) and samples (a thread's work: files block)."""
    with wave.open(str(path), "rb") as wav:
        fmt = (wav.getframerate(), wav.getsampwidth(), wav.getnchannels())
        return fmt, wav.readframes(wav.getnframes())


class AnswerPlayer:
    """Plays ``audio-start``/``audio-chunk``*/``audio-stop`` from a peer, then reports played.

    The peer's reader only enqueues; a separate task feeds the speaker. Writing to an
    ``aplay`` pipe blocks at real-time pace, and a reader stuck there would miss Home
    Assistant's pings (it drops the link after 5 s).
    """

    def __init__(
        self,
        speaker: Speaker,
        on_played: Callable[[], Awaitable[None]],
        tasks: set[asyncio.Task],
    ) -> None:
        self.speaker = speaker
        self.on_played = on_played
        self._tasks = tasks
        self._queue: asyncio.Queue[AudioChunk | None] | None = None
        self._format: tuple[int, int, int] = (22050, 2, 1)
        self.done = asyncio.Event()
        self.done.set()

    @property
    def active(self) -> bool:
        return not self.done.is_set()

    def handle_event(self, event: Event) -> bool:
        """Consume the event if it is answer audio; True when it was."""
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self._format = (start.rate, start.width, start.channels)
            if self._queue is not None:
                self._queue.put_nowait(None)  # a new answer replaces an unfinished one
            self._queue = asyncio.Queue()
            self.done.clear()
            task = asyncio.create_task(self._play(self._queue), name="satellite answer playback")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        if AudioChunk.is_type(event.type):
            if self._queue is not None:
                chunk = AudioChunk.from_event(event)
                self._queue.put_nowait(chunk)
            return True
        if AudioStop.is_type(event.type):
            if self._queue is not None:
                self._queue.put_nowait(None)
                self._queue = None
            return True
        return False

    def interrupt(self) -> None:
        """The wake word was heard while this answer played: stop it now and drop the rest
        of it as it arrives (the new turn's answer starts a new stream)."""
        self._queue = None
        self.speaker.interrupt()

    def cancel(self) -> None:
        """The peer is gone: finish what is queued without reporting played."""
        if self._queue is not None:
            self._queue.put_nowait(None)
            self._queue = None
        self.on_played = _nothing

    async def _play(self, queue: asyncio.Queue[AudioChunk | None]) -> None:
        try:
            await self.speaker.play(queue)
            if self._queue is None or self._queue is queue:
                await self.on_played()
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Could not report played: %s", err)
        finally:
            if self._queue is None:
                self.done.set()


async def _nothing() -> None:
    return None
