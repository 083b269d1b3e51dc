"""Speech-to-text with faster-whisper, off the event loop, with a decode during the silence.

The engine owns its executor: every CTranslate2 call (load, warm-up, transcribe, and the
consumption of faster-whisper's lazy segment generator, where the decoding really happens)
runs there, so `describe`, pings and other clients are never stalled by a transcription.

Its parts live beside it: the device and its CUDA fallback (device.py), the opening of the
model on that device, warmed up (loading.py), the silero pool the streams borrow
(vad_pool.py), the streamed utterance and its speculative decode (stream.py), the
short-window-first command decode (command_window.py, short_window.py), and the rule that
non-speech gives no words (speech_gate.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from faster_whisper import WhisperModel
from wyoming.info import Attribution

from ..audio.convert import MODEL_BYTES_PER_SECOND as BYTES_PER_SECOND
from ..audio.convert import MODEL_RATE as SAMPLE_RATE
from ..audio.convert import MODEL_WIDTH as SAMPLE_WIDTH
from ..audio.endpoint import DECODE_PAUSE_SECONDS
from ..errors import RtxError
from ..language import supported_language
from ..settings import AsrSettings
from .command_window import CommandWindow
from .decoded import Decoded
from .device import DeviceChoice, load_with_cpu_fallback, pick_device
from .loading import open_on_device, probe_cuda
from .models import resolve_asr_model, verify_asr_model
from .short_window import FULL_WINDOW_SECONDS, EncoderCache, decode_short_scored
from .speech_gate import Heard, SegmentScore, SpeechRegions, Transcribed, gated_text
from .stream import AsrStream, PauseListener
from .vad_pool import VadPool
from .vocabulary import as_sentence, decode_with_names

__all__ = ["AsrDescription", "AsrEngine", "AsrStream", "Decoded"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class AsrDescription:
    """What `info` advertises for the ASR model; known before (and without) loading it."""

    name: str
    languages: list[str]
    version: str
    attribution: Attribution
    description: str


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
        self._use_device(pick_device(settings.device))
        self.speculative_silence = DECODE_PAUSE_SECONDS
        """Silence after speech before the speculative decode starts (endpoint.py says why
        64 ms); a benchmark may change it (bench/asr_speculative.py)."""
        self.vocabulary: Callable[[], str] = str
        """The home's names for whisper's prompt (vocabulary.py); the app sets it."""
        self.window_fallbacks = 0
        """Short-window decodes redone with the full window (a loop, or long audio)."""
        self._command_window = CommandWindow()
        self._encoder = EncoderCache()
        """A command's fast decode and its decode without the names share one encoding."""
        self.vads = VadPool()
        self._executor = ThreadPoolExecutor(max_workers=self.num_workers, thread_name_prefix="asr")
        self._model: WhisperModel | None = None
        self._loading: asyncio.Future[WhisperModel] | None = None
        self._closed = False

    def _use_device(self, device: str) -> None:
        """Every choice that follows from the device, where the settings leave it on auto."""
        self._apply(DeviceChoice.for_device(self.settings, device))

    def _apply(self, choice: DeviceChoice) -> None:
        """Take a device's choices (the CUDA probe's, or the CPU's defaults)."""
        self.device = choice.device
        self.compute_type = choice.compute_type
        self.beam_size = choice.beam_size
        self.num_workers = choice.num_workers
        self.cpu_threads = choice.cpu_threads
        self.window_seconds = choice.window_seconds
        self.command_window_seconds = choice.command_window_seconds

    @property
    def loaded(self) -> bool:
        """True once the model is loaded and warmed."""
        return self._model is not None

    @property
    def command_window_kept(self) -> int:
        """Fast command decodes kept because their text was a local command."""
        return self._command_window.kept

    @property
    def command_window_redone(self) -> int:
        """Fast command decodes decoded again without the home's names (not a command)."""
        return self._command_window.redone

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
        """Transcribe a whole utterance (16 kHz s16le mono) in the executor.

        Silero judges it first (speech_gate.py): no speech gives "" without a decode."""
        max_bytes = int(self.settings.max_seconds * SAMPLE_RATE) * SAMPLE_WIDTH
        if len(pcm) > max_bytes:
            _LOGGER.warning(
                "Utterance of %.1f s is longer than %.1f s: dropping the rest of its audio",
                len(pcm) / BYTES_PER_SECOND,
                self.settings.max_seconds,
            )
            pcm = pcm[:max_bytes]
        regions = await self.vads.regions(pcm)
        if regions.heard is Heard.NOTHING:
            _LOGGER.info(
                "No speech in %.2f s of audio: empty transcript, nothing decoded",
                len(pcm) / BYTES_PER_SECOND,
            )
            return ""
        # Only blips: the home's names would be what whisper writes into them.
        result = await self.decode(pcm, language, vocabulary=regions.heard is Heard.SPEECH)
        text = self.gate(regions, result)
        _LOGGER.info(
            "Transcribed %.2f s of audio in %.0f ms: %s",
            result.audio_seconds,
            result.decode_seconds * 1000,
            text,
        )
        return text

    def gate(self, regions: SpeechRegions, result: Decoded) -> str:
        """The decoded text as silero's verdict allows it (speech_gate.py), with a log line
        when any of it is dropped (unsure words on blips, a loop, babble)."""
        text = gated_text(regions.heard, result.text, result.segments)
        if text != result.text:
            _LOGGER.info(
                "Silero heard %s (longest region %.0f ms): %r gated to %r (%s)",
                regions.heard.value,
                regions.longest_seconds * 1000,
                result.text,
                text,
                result.text,
                ", ".join(
                    f"no_speech {segment.no_speech_prob:.2f} avg_logprob {segment.avg_logprob:.2f}"
                    for segment in result.segments
                )
                or "no segment",
            )
        return text

    def stream(
        self,
        language: str | None = None,
        accept: Callable[[str], bool] | None = None,
        listener: PauseListener | None = None,
    ) -> AsrStream:
        """Start an utterance whose audio arrives over time (see AsrStream)."""
        return AsrStream(self, language, accept, listener)

    async def close(self) -> None:
        """Drop queued work, wait for a decode in flight to end, and release the model."""
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        await self.vads.close()
        self._model = None
        self._loading = None

    async def decode(
        self,
        pcm: bytes,
        language: str | None,
        window_seconds: float | None = None,
        vocabulary: bool = True,
        names_as_sentence: bool = False,
        beam_size: int | None = None,
    ) -> Decoded:
        """Decode in the executor (awaiting the load first); used by transcribe and streams.

        window_seconds: the encoder window for this decode (default: the engine's).
        vocabulary: the home's names bias the decoder (command_window.py says where not).
        names_as_sentence: those names written as a plain sentence (vocabulary.as_sentence).
        beam_size: this decode's beam (default: the engine's)."""
        await self.load()
        language = supported_language(
            language or self.settings.language, self.description.languages
        )
        window = self.window_seconds if window_seconds is None else window_seconds
        beam = self.beam_size if beam_size is None else beam_size
        names = self.vocabulary() if vocabulary else ""
        if names and names_as_sentence:
            names = as_sentence(names)
        loop = asyncio.get_running_loop()

        def run(prompt: str | None) -> Awaitable[Decoded]:
            return loop.run_in_executor(
                self._executor, self._decode_sync, pcm, language, window, prompt, beam
            )

        return await decode_with_names(run, self.settings.initial_prompt, names)

    async def decode_command(
        self, pcm: bytes, language: str | None, accept: Callable[[str], bool] | None
    ) -> Decoded:
        """Decode a spoken turn, trying the fast command window first when one is set.

        The fast text is kept only when `accept` says it is a local command; otherwise
        further tries in the same short window decide (command_window.py).
        """
        return await self._command_window.decode(
            functools.partial(self.decode, pcm, language),
            accept,
            self.command_window_seconds,
            self.window_seconds,
            audio_seconds=len(pcm) / BYTES_PER_SECOND,
            language=language or self.settings.language,
            beam_size=self.beam_size,
        )

    def _load_sync(self) -> WhisperModel:
        """Check a bundled model's digests, start the VAD workers, then load the model.

        The check comes first and once (not per device try): a damaged file is refused before
        CTranslate2 reads it. The CUDA probe and the opening itself are in loading.py; the
        device they settle on is applied here. A broken CUDA under auto falls back to the CPU.
        """
        verify_asr_model(self.resolved)
        self.vads.warm_workers()
        probed = probe_cuda(self.settings, self.resolved, self.device)
        if probed is not None:
            self._apply(probed)
        return load_with_cpu_fallback(
            self.settings.device,
            self.device,
            self._load_on_device,
            functools.partial(self._use_device, "cpu"),
        )

    def _load_on_device(self) -> WhisperModel:
        """Open and warm the model with the engine's current device choices (loading.py)."""
        return open_on_device(
            self.settings,
            self.resolved,
            device=self.device,
            compute_type=self.compute_type,
            num_workers=self.num_workers,
            cpu_threads=self.cpu_threads,
            beam_size=self.beam_size,
            warm_up=self._run,
        )

    def _decode_sync(
        self,
        pcm: bytes,
        language: str | None,
        window_seconds: float,
        prompt: str | None,
        beam_size: int,
    ) -> Decoded:
        model = self._model
        if model is None:
            raise RtxError("The ASR engine is closed", "asr-closed")
        started = time.perf_counter()
        usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
        audio = np.frombuffer(pcm[:usable], dtype=np.int16).astype(np.float32) / 32768.0
        heard = (
            self._run(model, audio, language, window_seconds, prompt, beam_size)
            if audio.size
            else Transcribed("")
        )
        return Decoded(
            heard.text, audio.size / SAMPLE_RATE, time.perf_counter() - started, heard.segments
        )

    def _run(
        self,
        model: WhisperModel,
        audio: np.ndarray,
        language: str | None,
        window_seconds: float = FULL_WINDOW_SECONDS,
        prompt: str | None = None,
        beam_size: int | None = None,
    ) -> Transcribed:
        """Transcribe and consume the lazy segment generator here, in the executor thread.

        One temperature only: the fallback ladder re-decodes up to five more times when a
        result looks poor, which is mostly on noise, and would blow a short command's budget.
        No timestamps and no conditioning on earlier windows: commands are one window.
        Short audio gets a shorter encoder window when configured (short_window.py).
        `beam_size` None is the engine's own; another is a command window's try
        (command_window.py): where the short window cannot decode it (a loop at the token
        cap), it heard nothing, rather than run a beam search over the full window.
        """
        a_try = beam_size is not None and beam_size != self.beam_size
        beam_size = self.beam_size if beam_size is None else beam_size
        if window_seconds < FULL_WINDOW_SECONDS:
            heard = decode_short_scored(
                model,
                audio,
                language,
                window_seconds=window_seconds,
                beam_size=beam_size,
                initial_prompt=prompt,
                encoder=self._encoder,
            )
            if heard is not None:
                return heard
            if a_try:
                return Transcribed("")
            self.window_fallbacks += 1
        segments, _info = model.transcribe(
            audio,
            language=language,
            beam_size=beam_size,
            initial_prompt=prompt,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
            temperature=0.0,
        )
        scores = tuple(
            SegmentScore(segment.text.strip(), segment.no_speech_prob, segment.avg_logprob)
            for segment in segments
        )
        return Transcribed(" ".join(score.text for score in scores).strip(), scores)
