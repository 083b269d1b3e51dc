"""One utterance fed as it arrives, decoded during its trailing silence.

Silero (through the engine's VadPool) watches the fed audio; the decode itself, with the
command window when the stream has `accept`, is the engine's (AsrEngine.decode_command).
The same scan tells whether the utterance held speech at all: without any, `finish` returns ""
without decoding (speech_gate.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..audio.convert import MODEL_BYTES_PER_SECOND as BYTES_PER_SECOND
from ..audio.convert import MODEL_RATE as SAMPLE_RATE
from ..audio.convert import MODEL_WIDTH as SAMPLE_WIDTH
from ..audio.vad import CHUNK_BYTES
from ..errors import RtxError
from .speech_gate import SILENCE_PROBABILITY, SPEECH_PROBABILITY, Heard, SpeechRegions

if TYPE_CHECKING:
    from .decoded import Decoded
    from .engine import AsrEngine

_LOGGER = logging.getLogger(__name__)

__all__ = ["SILENCE_PROBABILITY", "SPEECH_PROBABILITY", "AsrStream"]


class PauseListener(Protocol):
    """Who judges the turn's end from this stream's VAD and its pause-time decodes."""

    def observe(self, probability: float) -> None:
        """Silero's speech probability of the next 32 ms chunk."""

    def pause(self, audio: bytes, decode: asyncio.Task[Decoded]) -> None:
        """A pause began: `audio` is everything up to it, `decode` its transcript (cancelled
        when speech resumes)."""


def at_spoken_pace(elapsed: float, audio_seconds: float) -> bool:
    """Did ``audio_seconds`` of audio arrive about as fast as it was spoken (Home Assistant, a
    satellite: at least half its length in time), not at once (a file)?"""
    return elapsed >= 0.5 * audio_seconds


class AsrStream:
    """One utterance fed as it arrives; decodes during the trailing silence.

    Silero VAD watches the fed audio. Once speech has been heard and then
    `engine.speculative_silence` seconds of silence follow, the audio so far is decoded in
    the background. If speech resumes, that decode is stale and dropped; if not, `finish()`
    returns it, so the transcript is ready about when `audio-stop` arrives instead of one
    whole decode later. When silero heard no speech in the whole utterance, `finish` returns
    "" and nothing is decoded; only blips, whisper's unconfident words are dropped.
    """

    def __init__(
        self,
        engine: AsrEngine,
        language: str | None = None,
        accept: Callable[[str], bool] | None = None,
        listener: PauseListener | None = None,
    ) -> None:
        """Prepare an empty capped buffer (and a VAD when speculation is on).

        accept: given, decodes try the fast command window first (AsrEngine.decode_command).
        listener: told each chunk's speech probability and each pause's decode, so a turn
        can judge its end from the same VAD and transcript (pipeline/turn_end.py).
        """
        self._engine = engine
        self._language = language
        self._accept = accept
        self._listener = listener
        self._max_bytes = int(engine.settings.max_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        self._buffer = bytearray()
        self._speculative = engine.settings.speculative
        self._vad = engine.vads.acquire() if self._speculative else None
        self._silence_bytes = int(engine.speculative_silence * SAMPLE_RATE) * SAMPLE_WIDTH
        self._scanned = 0
        self._speech_seen = False
        self._regions = SpeechRegions()
        self._silence_start: int | None = None
        self._speculation: asyncio.Task[Decoded] | None = None
        self._scanner: asyncio.Task[None] | None = None
        self._scanning = False
        self._closed = False
        self.truncated = False
        self.speculative_hit: bool | None = None
        """True: the silence-time decode was used; False: decoded at finish; None: not tried."""
        self.speculative_runs = 0
        """How many speculative decodes were started (more than one means speech resumed)."""
        self._first_fed_at: float | None = None
        self.heard: Heard | None = None
        """Silero's verdict on the whole utterance, once finished."""

    @property
    def seconds(self) -> float:
        """Seconds of audio buffered so far (at most max_seconds)."""
        return len(self._buffer) / BYTES_PER_SECOND

    def audio(self) -> bytes:
        """Everything fed so far (the end-of-turn judge scores the pause with it)."""
        return bytes(self._buffer)

    @property
    def pending(self) -> bool:
        """True while a speculative decode task is outstanding."""
        return self._speculation is not None and not self._speculation.done()

    def feed(self, pcm: bytes) -> None:
        """Append audio (16 kHz s16le mono); past max_seconds it is dropped and logged once."""
        if self._closed:
            return
        room = self._max_bytes - len(self._buffer)
        if len(pcm) > room:
            if not self.truncated:
                self.truncated = True
                _LOGGER.warning(
                    "Utterance longer than %.1f s: dropping the rest of its audio",
                    self._engine.settings.max_seconds,
                )
            pcm = pcm[: max(room, 0)]
        self._buffer += pcm
        if self._first_fed_at is None:
            self._first_fed_at = time.monotonic()
        if self._vad is not None and (self._scanner is None or self._scanner.done()):
            self._scanner = asyncio.get_running_loop().create_task(
                self._scan(), name="asr-vad-scan"
            )

    async def finish(self, accept: Callable[[str], bool] | None = None) -> str:
        """The final text: the speculative result when no speech came after it, else a decode.

        accept: the command test for the decode at finish only (the stream's own otherwise),
        for a caller whose silence-time decode should use the full window, since it is hidden
        by the silence anyway, while a decode after the end is on the critical path."""
        if self._closed:
            raise RtxError("This ASR stream is already finished", "asr-stream-closed")
        stopped = time.perf_counter()
        if self._scanner is not None:
            await asyncio.gather(self._scanner, return_exceptions=True)
        self._check_tail()
        whole = len(self._buffer) - len(self._buffer) % CHUNK_BYTES
        scanned_all = self._vad is not None and self._scanned >= whole
        self._close()
        # Speculation off (no scan), or a scan that failed: silero judges the whole buffer now.
        regions = (
            self._regions if scanned_all else await self._engine.vads.regions(bytes(self._buffer))
        )
        self.heard = regions.heard
        if self.heard is Heard.NOTHING:
            self._drop_speculation("no speech")
            _LOGGER.info(
                "No speech in %.2f s of audio (ready %.0f ms after audio-stop): "
                "empty transcript, nothing decoded",
                self.seconds,
                (time.perf_counter() - stopped) * 1000,
            )
            return ""
        speculation, self._speculation = self._speculation, None
        if self.heard is Heard.BLIPS and speculation is not None:
            # Decoded with the home's names as the prompt, which whisper writes into blips
            # ("Hallway, Living Room."): blips are decoded without them, below.
            self._speculation = speculation
            self._drop_speculation("only blips")
            speculation = None
        result: Decoded | None = None
        if speculation is not None:
            try:
                result = await speculation
                self.speculative_hit = True
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is None or current.cancelling():
                    raise
                # Not us: the engine dropped the queued decode (closing); the decode below
                # reports that as an RtxError instead of a bare cancellation.
            except RtxError:
                raise
            except Exception:
                _LOGGER.warning("Speculative decode failed; decoding again", exc_info=True)
        if result is None:
            if self._speculative:
                self.speculative_hit = False
            if self.heard is Heard.BLIPS:
                result = await self._engine.decode(
                    bytes(self._buffer), self._language, vocabulary=False
                )
            else:
                result = await self._engine.decode_command(
                    bytes(self._buffer), self._language, accept or self._accept
                )
        _LOGGER.info(
            "Transcribed %.2f s of audio in %.0f ms (ready %.0f ms after audio-stop, "
            "speculative %s): %s",
            result.audio_seconds,
            result.decode_seconds * 1000,
            (time.perf_counter() - stopped) * 1000,
            self.speculative_hit,
            result.text,
        )
        return self._engine.gate(regions, result)

    def cancel(self) -> None:
        """Client gone: drop the buffer, the VAD scan and any speculative decode."""
        self._close()
        if self._scanner is not None:
            self._scanner.cancel()
        self._drop_speculation("cancelled")
        self._buffer = bytearray()

    async def _scan(self) -> None:
        """Run silero over the new audio in a worker thread, one batch at a time.

        Silero costs ~1-3 ms per 32 ms chunk; on the event loop, a few dozen streams at
        once would push `describe` past Home Assistant's 1 s budget. Only this task uses
        the stream's VAD, so its recurrent state stays in order.
        """
        while (vad := self._vad) is not None and not self._closed:
            start = self._scanned
            end = len(self._buffer) - (len(self._buffer) - start) % CHUNK_BYTES
            if end <= start:
                return
            audio = bytes(self._buffer[start:end])
            self._scanning = True
            try:
                probabilities = await self._engine.vads.probabilities(vad, audio)
            except asyncio.CancelledError:
                self._vad = None  # its thread may still be running: never back to the pool
                raise
            finally:
                self._scanning = False
            if self._closed:
                self._engine.vads.release(vad)  # _close() left it to us: it was in use
                self._vad = None
                return
            for index, probability in enumerate(probabilities):
                self._scanned = start + (index + 1) * CHUNK_BYTES
                self._observe(probability, self._scanned)

    def _observe(self, probability: float, end: int) -> None:
        self._regions.add(probability)
        if self._listener is not None:
            self._listener.observe(probability)
        if probability >= SPEECH_PROBABILITY:
            self._speech_seen = True
            self._silence_start = None
            self._drop_speculation("speech resumed")
            return
        if not self._speech_seen:
            return
        if self._silence_start is None:
            if probability >= SILENCE_PROBABILITY:
                return
            self._silence_start = end - CHUNK_BYTES
        if (
            self._speculation is None
            and end - self._silence_start >= self._silence_bytes
            and (self._listener is not None or self._spoken_pace(end))
        ):
            self._start_speculation(end)

    def _spoken_pace(self, end: int) -> bool:
        """Has the audio up to ``end`` arrived about as fast as it was spoken?

        Audio sent faster (a file in one burst) is all there before its pauses are scanned:
        `audio-stop` follows at once, so a decode at each pause only competes for the CPU
        with the decode that counts. With a 64 ms pause a 10 s passage has many such pauses:
        sent in one burst, its transcript took 1,247 ms instead of ~650 (`bench/run.py
        --quick`). A turn the server judges (a listener) always decodes its pauses: that
        decode is the judgment."""
        assert self._first_fed_at is not None
        return at_spoken_pace(time.monotonic() - self._first_fed_at, end / BYTES_PER_SECOND)

    def _check_tail(self) -> None:
        """Run the VAD over the last partial chunk, so speech in it invalidates speculation."""
        vad = self._vad
        if vad is None or self._closed:
            return
        tail = bytes(self._buffer[self._scanned :])
        if len(tail) >= SAMPLE_WIDTH * 64:
            chunk = tail[:CHUNK_BYTES].ljust(CHUNK_BYTES, b"\0")
            probability = vad.probability(chunk)
            self._regions.add(probability)
            if probability >= SPEECH_PROBABILITY:
                self._drop_speculation("speech in the last chunk")

    def _start_speculation(self, end: int) -> None:
        self.speculative_runs += 1
        _LOGGER.debug("Speculative decode of %.2f s", end / BYTES_PER_SECOND)
        audio = bytes(self._buffer[:end])
        self._speculation = asyncio.get_running_loop().create_task(
            self._engine.decode_command(audio, self._language, self._accept),
            name="asr-speculative-decode",
        )
        if self._listener is not None:
            self._listener.pause(audio, self._speculation)

    def _drop_speculation(self, why: str) -> None:
        task, self._speculation = self._speculation, None
        if task is None:
            return
        _LOGGER.debug("Speculative decode dropped: %s", why)
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved, so a failure is not reported as unhandled
        else:
            task.cancel()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._vad is not None and not self._scanning:
            self._engine.vads.release(self._vad)
            self._vad = None
