"""The text-to-speech exchange of one connection, as Home Assistant drives it.

Non-streaming: `synthesize` → exactly one `audio-start` … `audio-stop`, the first
sentence's audio written as soon as it exists. Streaming: `synthesize-start`,
`synthesize-chunk`* (text deltas, cut into sentences as they complete), the full
`synthesize` HA sends inside a stream for older servers (ignored), `synthesize-stop`
→ the rest of the audio, `audio-stop`, `synthesize-stopped`. HA takes the format
from the first `audio-start` and reads chunks until `synthesize-stopped`, so one
stream has one format and one `audio-start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStopped

from ..audio.convert import audio_chunks
from ..errors import RtxError
from ..pipeline.ha_requests import OpenRecords, reporting
from .sentences import SentenceSplitter

if TYPE_CHECKING:
    from ..pipeline.ha_requests import HomeAssistantTurns, SpeechRecord
    from .engine import TtsEngine

_LOGGER = logging.getLogger(__name__)

WriteEvent = Callable[[Event], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]

_END = None


class TextTooLongError(RtxError):
    """A synthesis request over the configured character cap."""

    code = "text-too-long"


class AudioWriter:
    """Writes one audio stream: a single audio-start, chunked PCM, then audio-stop."""

    def __init__(self, write_event: WriteEvent, record: SpeechRecord | None = None) -> None:
        self._write_event = write_event
        self._record = record
        self.started_format: tuple[int, int, int] | None = None
        self.first_audio_at: float | None = None
        self.broken = False
        """A write failed: the client is gone (or dropped), so nothing more can be said."""

    async def write(self, rate: int, width: int, channels: int, pcm: bytes) -> None:
        """Write PCM, opening the stream with its format the first time."""
        try:
            if self.started_format is None:
                self.started_format = (rate, width, channels)
                await self._write_event(
                    AudioStart(rate=rate, width=width, channels=channels).event()
                )
                self.first_audio_at = time.monotonic()
                if self._record is not None:
                    self._record.first_audio(self.first_audio_at)
            for chunk in audio_chunks(rate, width, channels, pcm):
                await self._write_event(chunk.event())
        except Exception:
            self.broken = True
            raise

    async def stop(self, default_format: tuple[int, int, int]) -> None:
        """Close the stream; with no audio at all, still send a well-formed empty stream."""
        if self.started_format is None:
            rate, width, channels = default_format
            await self._write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        await self._write_event(AudioStop().event())


class SynthesisSession:
    """One connection's TTS requests; requests on one connection are answered in order."""

    def __init__(
        self,
        engine: TtsEngine,
        write_event: WriteEvent,
        spawn: Spawn,
        max_text_chars: int,
        turns: HomeAssistantTurns | None = None,
    ) -> None:
        self._engine = engine
        self._turns = turns
        self._records = OpenRecords()
        self._write_event = write_event
        self._spawn = spawn
        self._max_chars = max_text_chars
        self._previous: asyncio.Task[Any] | None = None
        self._stream: _StreamState | None = None

    @property
    def streaming(self) -> bool:
        """True between synthesize-start and synthesize-stop."""
        return self._stream is not None

    def on_synthesize(self, request: Synthesize) -> None:
        """A whole text; inside a streaming request it is the compatibility copy: ignore."""
        if self._stream is not None:
            _LOGGER.debug("Ignoring synthesize inside a streaming request")
            return
        if len(request.text) > self._max_chars:
            refusal = TextTooLongError(
                f"text of {len(request.text)} characters exceeds the limit of {self._max_chars}"
            )
            self._chain(self._refuse(refusal), "refused synthesis")
            return
        voice = request.voice
        record = self._record(request.text)
        speech = functools.partial(
            self._speak_text, request.text, voice.name if voice else None, _speaker(voice), record
        )
        self._chain(_recorded(speech, record), "synthesis")

    def on_start(self, request: SynthesizeStart) -> None:
        """Open a streaming request: sentences are spoken as soon as they complete."""
        if self._stream is not None:
            self._stream.queue.put_nowait(_END)
        voice = request.voice
        state = _StreamState(voice.name if voice else None, _speaker(voice))
        self._stream = state
        record = self._record(None)
        speech = functools.partial(self._speak_stream, state, record)
        self._chain(_recorded(speech, record), "streaming synthesis")

    def on_chunk(self, chunk: SynthesizeChunk) -> None:
        """Add a text delta; complete sentences go to the synthesizer right away."""
        state = self._stream
        if state is None:
            _LOGGER.debug("Ignoring synthesize-chunk outside a streaming request")
            return
        state.chars += len(chunk.text)
        if state.chars > self._max_chars:
            self._stream = None
            state.queue.put_nowait(_END)
            raise TextTooLongError(f"streamed text exceeds the limit of {self._max_chars}")
        for sentence in state.splitter.add(chunk.text):
            state.queue.put_nowait(sentence)

    def on_stop(self) -> None:
        """End of text: speak what is left, then close the stream."""
        state, self._stream = self._stream, None
        if state is None:
            _LOGGER.debug("Ignoring synthesize-stop outside a streaming request")
            return
        for sentence in state.splitter.flush():
            state.queue.put_nowait(sentence)
        state.queue.put_nowait(_END)

    def _record(self, text: str | None) -> SpeechRecord | None:
        if self._turns is None:
            return None
        record = self._turns.text_to_speech(text)
        self._records.add(record)
        return record

    def close(self) -> None:
        """The client left: requests not answered end their turns as cancelled."""
        self._records.cancel_all()

    def _chain(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        previous = self._previous

        async def after_previous() -> None:
            try:
                if previous is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(previous)
            except asyncio.CancelledError:
                coro.close()
                raise
            await coro

        self._previous = self._spawn(after_previous(), name)

    async def _speak(
        self,
        out: AudioWriter,
        text: str,
        voice: str | None,
        speaker: str | None,
        first_clause: bool | None = None,
    ) -> None:
        speech = self._engine.synthesize(text, voice, speaker, first_clause=first_clause)
        async with contextlib.aclosing(speech) as audio:
            async for item in audio:
                await out.write(item.rate, item.width, item.channels, item.pcm)

    async def _speak_text(
        self, text: str, voice: str | None, speaker: str | None, record: SpeechRecord | None
    ) -> None:
        started = time.monotonic()
        out = AudioWriter(self._write_event, record)
        try:
            await self._speak(out, text, voice, speaker)
        except Exception as err:
            await self._end_failed(out, err, record, streaming=False)
            return
        await out.stop(self._default_format())
        _log_done("Synthesized", text, started, out)

    async def _speak_stream(self, state: _StreamState, record: SpeechRecord | None) -> None:
        started = time.monotonic()
        out = AudioWriter(self._write_event, record)
        spoken: list[str] = []
        while (sentence := await state.queue.get()) is not _END:
            # Only the very first sentence is worth cutting at a clause: later ones are
            # synthesized while earlier audio is still playing.
            first_clause = None if not spoken else False
            spoken.append(sentence)
            try:
                await self._speak(out, sentence, state.voice, state.speaker, first_clause)
            except Exception as err:
                await self._end_failed(out, err, record, streaming=True)
                return
        await out.stop(self._default_format())
        await self._write_event(SynthesizeStopped().event())
        if record is not None:
            record.text(" ".join(spoken))
        _log_done("Streamed", " ".join(spoken), started, out)

    async def _refuse(self, refusal: RtxError) -> None:
        """An `error`, then an empty audio stream: the client that waits for `audio-stop`
        (Home Assistant) is answered, in its turn after earlier requests."""
        _LOGGER.warning("Synthesis refused: %s", refusal)
        await self._write_event(Error(text=str(refusal), code=refusal.code).event())
        await AudioWriter(self._write_event).stop(self._default_format())

    async def _end_failed(
        self,
        out: AudioWriter,
        err: Exception,
        record: SpeechRecord | None,
        *,
        streaming: bool,
    ) -> None:
        """Say what failed, then end the audio as the client expects.

        Home Assistant's text-to-speech client skips `error` and reads until `audio-stop`
        (streaming: `synthesize-stopped`): without them its pipeline waits forever. The
        audio already written is kept; the stream is closed where it stands. A failed write
        means the client is gone: then there is nobody to tell."""
        if out.broken:
            raise err
        failure = (
            err if isinstance(err, RtxError) else RtxError(f"synthesis failed: {err}", "tts-failed")
        )
        _LOGGER.error("Synthesis failed: %s", failure, exc_info=err)
        if record is not None:
            record.failed(failure)
        await self._write_event(Error(text=str(failure), code=failure.code).event())
        await out.stop(self._default_format())
        if streaming:
            await self._write_event(SynthesizeStopped().event())

    def _default_format(self) -> tuple[int, int, int]:
        return (self._engine.default_voice.sample_rate, 2, 1)


class _StreamState:
    def __init__(self, voice: str | None, speaker: str | None) -> None:
        self.voice = voice
        self.speaker = speaker
        self.splitter = SentenceSplitter(first_clause=True)
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.chars = 0


async def _recorded(
    speech: Callable[[], Coroutine[Any, Any, None]], record: SpeechRecord | None
) -> None:
    """Run one synthesis request and tell its turn how it ended (the audio-stop is the end).

    `speech` is made here, not by the caller: a request cancelled before its turn in the chain
    then leaves no coroutine that was never awaited."""
    with reporting(record):
        await speech()
    if record is not None:
        record.done()


def _speaker(voice: Any) -> str | None:
    speaker = getattr(voice, "speaker", None)
    return str(speaker) if speaker not in (None, "") else None


def _log_done(what: str, text: str, started: float, out: AudioWriter) -> None:
    first = (out.first_audio_at - started) * 1000 if out.first_audio_at else float("nan")
    _LOGGER.info(
        "%s %d characters: first audio %.0f ms, done %.0f ms",
        what,
        len(text),
        first,
        (time.monotonic() - started) * 1000,
    )
