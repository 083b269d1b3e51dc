"""The speech-to-text exchange of one connection, as Home Assistant drives it.

`transcribe` (optional) → `audio-start` → `audio-chunk`* → `audio-stop` → we answer
`transcript-start`, `transcript-chunk`, `transcript`, `transcript-stop` (the order
wyoming-faster-whisper uses; HA reads the final `transcript`). Audio is converted and
fed to an `AsrStream` as it arrives, so the engine can decode during the trailing
silence and the transcript is ready almost as soon as `audio-stop` lands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart
from wyoming.error import Error
from wyoming.event import Event

from ..audio.convert import MODEL_BYTES_PER_SECOND, AudioFormatError, PcmConverter
from ..errors import RtxError
from ..language import primary_language
from ..pipeline.ha_requests import OpenRecords, reporting
from .stream import at_spoken_pace

if TYPE_CHECKING:
    from ..pipeline.ha_requests import HomeAssistantTurns, SpeechToTextRecord
    from .engine import AsrEngine, AsrStream

_LOGGER = logging.getLogger(__name__)

WriteEvent = Callable[[Event], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]
Accept = Callable[[str], bool]


class TranscriptionSession:
    """Tracks one connection's current utterance; a new request replaces the old one.

    turns: where the request is recorded as the first stage of a turn (status page, metrics).
    accept: says whether a text is a command the home understands; given, the stream may keep
    a fast short-window transcript of a command, exactly as a direct satellite's turn does.
    """

    def __init__(
        self,
        engine: AsrEngine,
        write_event: WriteEvent,
        spawn: Spawn,
        turns: HomeAssistantTurns | None = None,
        accept: Accept | None = None,
    ) -> None:
        self._engine = engine
        self._write_event = write_event
        self._spawn = spawn
        self._turns = turns
        self._accept = accept
        self._record: SpeechToTextRecord | None = None
        self._records = OpenRecords()
        self._language: str | None = None
        self._stream: AsrStream | None = None
        self._converter: PcmConverter | None = None
        self._refused = False
        self._audio_bytes = 0

    @property
    def active(self) -> bool:
        """True between audio-start and audio-stop."""
        return self._stream is not None

    def on_transcribe(self, transcribe: Transcribe) -> None:
        """Remember the requested language for the audio that follows."""
        self.cancel()
        self._language = self._pick_language(transcribe.language)

    def on_audio_start(self, start: AudioStart) -> None:
        """Validate the format and open a stream; a bad format refuses the whole utterance."""
        self.cancel()
        try:
            self._converter = PcmConverter(start.rate, start.width, start.channels)
        except AudioFormatError:
            self._refused = True
            raise
        self._refused = False
        self._audio_bytes = 0
        self._first_audio_at: float | None = None
        self._stream = self._engine.stream(self._language)
        if self._turns is not None:
            self._record = self._turns.speech_to_text()
            self._records.add(self._record)

    def on_audio_chunk(self, chunk: AudioChunk) -> None:
        """Convert and feed; a chunk without audio-start opens the stream in its format."""
        if self._refused:
            return
        if self._stream is None:
            self.on_audio_start(
                AudioStart(rate=chunk.rate, width=chunk.width, channels=chunk.channels)
            )
        assert self._stream is not None and self._converter is not None
        if not self._converter.matches(chunk.rate, chunk.width, chunk.channels):
            self.cancel()
            self._refused = True
            raise AudioFormatError(
                f"audio format changed mid-stream to {chunk.rate} Hz/{chunk.width}/{chunk.channels}"
            )
        pcm = self._converter.convert(chunk.audio)
        if self._first_audio_at is None:
            self._first_audio_at = time.monotonic()
        self._audio_bytes += len(pcm)
        self._stream.feed(pcm)

    def on_audio_stop(self) -> None:
        """Finish the utterance in a task so the read loop keeps serving this client."""
        if self._refused:
            # The format was refused with an `error` at audio-start; the client still waits
            # for a transcript (Home Assistant ignores `error`), so it gets an empty one.
            self._refused = False
            self._spawn(self._send_transcript("", time.monotonic()), "refused transcript")
            return
        stream, self._stream, self._converter = self._stream, None, None
        record, self._record = self._record, None
        stopped_at = time.monotonic()
        if record is not None:
            record.end_of_speech(stopped_at)
        if stream is None:
            # audio-stop with no audio: answer an empty transcript instead of crashing
            # (wyoming-faster-whisper once died on an assert here).
            self._spawn(self._send_transcript("", stopped_at), "empty transcript")
            return
        self._spawn(
            self._finish(stream, stopped_at, record, self._paced(stopped_at)), "transcription"
        )

    def cancel(self) -> None:
        """Drop the utterance in progress (new request or client gone)."""
        if self._stream is not None:
            self._stream.cancel()
        if self._record is not None:
            self._record.cancelled()
        self._stream = None
        self._converter = None
        self._record = None

    def close(self) -> None:
        """The client left: drop the utterance and end unanswered requests' turns."""
        self.cancel()
        self._records.cancel_all()

    def _paced(self, stopped_at: float) -> bool:
        """Did the audio arrive about as fast as it was spoken (Home Assistant, a satellite)?

        Only the decode after `audio-stop` of paced audio tries the fast command window: that
        decode is on the critical path, as in a direct turn whose speech ended without the
        silence the speculative decode needs. The speculative decode itself keeps the full
        window (Home Assistant's 0.7 s of silence hides it), and a file sent in one burst
        goes straight to the full window: trying the command window there as well was
        measured to cost more than it saved (`bench/run.py`, one client: burst p95
        540 → 838 ms, real-time p95 4 → 179 ms, with no gain in either median)."""
        if self._first_audio_at is None:
            return False
        spoken = self._audio_bytes / MODEL_BYTES_PER_SECOND
        return at_spoken_pace(stopped_at - self._first_audio_at, spoken)

    async def _finish(
        self,
        stream: AsrStream,
        stopped_at: float,
        record: SpeechToTextRecord | None,
        paced: bool,
    ) -> None:
        try:
            with reporting(record):
                text = await stream.finish(accept=self._accept if paced else None)
        except Exception as err:
            # Home Assistant's speech-to-text client skips `error` and waits for a
            # `transcript`: the error is said, then an empty transcript ends its wait (its
            # pipeline reports "no text recognized" instead of hanging).
            _LOGGER.exception("Transcription failed")
            failure = (
                err
                if isinstance(err, RtxError)
                else RtxError(f"transcription failed: {err}", code="asr-failed")
            )
            await self._write_event(Error(text=str(failure), code=failure.code).event())
            await self._send_transcript("", stopped_at)
            return
        _LOGGER.info(
            "Transcript after %.0f ms (%.1f s of audio%s%s): %s",
            (time.monotonic() - stopped_at) * 1000,
            self._audio_bytes / MODEL_BYTES_PER_SECOND,
            ", speculative" if stream.speculative_hit else "",
            ", truncated" if stream.truncated else "",
            text,
        )
        if record is not None:
            # Recorded before it is written: Home Assistant may send the conversation request
            # on its next connection before our last event has drained, and that request
            # must find this turn waiting for it.
            record.transcript(text)
        await self._send_transcript(text, stopped_at)

    async def _send_transcript(self, text: str, _stopped_at: float) -> None:
        language = self._language or self._default_language()
        await self._write_event(TranscriptStart(language=language).event())
        if text:
            await self._write_event(TranscriptChunk(text=text).event())
        await self._write_event(Transcript(text=text, language=language).event())
        await self._write_event(TranscriptStop().event())

    def _default_language(self) -> str | None:
        languages = self._engine.description.languages
        return languages[0] if len(languages) == 1 else None

    def _pick_language(self, requested: str | None) -> str | None:
        language = primary_language(requested)
        if language is None:
            return None
        if language not in self._engine.description.languages:
            _LOGGER.warning(
                "Language %r is not supported by the speech model; using its default", requested
            )
            return None
        return language
