"""Piper text-to-speech engine: sentence by sentence, off the event loop, parallel across clients.

Each request is cut into sentences (and, optionally, a short first clause) so the first audio
is ready after one sentence's inference, not the whole text's. Work runs in one shared thread
pool sized by `TtsSettings.parallel`: ONNX Runtime sessions may run from several threads at
once, so different clients' sentences are inferred in parallel. Only the espeak-ng phonemizer,
a process-wide C library, is serialized. Each request keeps at most one sentence in flight, and
closing its iterator cancels what has not started.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from piper import PiperVoice, SynthesisConfig

from ..errors import RtxError
from ..model_digests import ModelIntegrityError
from ..settings import TtsSettings
from .device import open_voice, voice_device
from .sentences import SentenceSplitter
from .speech_cache import MAX_CACHED_CHARS, SpeechCache
from .voices import VoiceDescription, discover_voices, verify_voice

_LOGGER = logging.getLogger(__name__)

_ESPEAK_LOCK = threading.Lock()
"""espeak-ng keeps global state (current voice, buffers) in the process, so phonemizing is
serialized across every engine and voice; it takes about a millisecond per sentence."""

_WARM_UP_TEXT = "Ready."
MAX_SEGMENT_CHARS = 160
"""Longest run of text given to piper at once; a longer sentence is cut at a clause or space.
ONNX Runtime's working memory grows with the audio of one run and its arena keeps the peak:
with the bundled medium voice one run of 40 characters took +77 MB, 160 took +133 MB and
400 took +334 MB. 160 characters is about 14 s of speech, longer than nearly any real
sentence, so only run-on text is cut."""
_SAMPLE_WIDTH = 2
_CHANNELS = 1


@dataclass(frozen=True)
class SpeechAudio:
    """Audio for one sentence (or first clause), 16-bit little-endian mono PCM."""

    rate: int
    width: int
    channels: int
    pcm: bytes
    text: str
    """The text this audio speaks."""


class TtsEngine:
    """Owns the piper voices and the thread pool that synthesizes with them."""

    def __init__(
        self,
        settings: TtsSettings,
        *,
        split_first_clause: bool = True,
        intra_op_threads: int | None = None,
    ) -> None:
        """Discover the voices on disk (ModelNotFoundError); nothing is loaded yet.

        split_first_clause: speak a long first sentence's first clause on its own, so the
        first audio arrives sooner.
        intra_op_threads: ONNX Runtime threads per inference; None = usable cores divided by
        `settings.parallel`, 0 = ONNX Runtime's own default (one per core).
        """
        self.settings = settings
        self.split_first_clause = split_first_clause
        self.voices: list[VoiceDescription] = discover_voices(settings)
        self.default_voice: VoiceDescription = self.voices[0]
        self._by_name = {voice.name: voice for voice in self.voices}
        workers = max(1, settings.parallel)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts")
        if intra_op_threads is None:
            intra_op_threads = max(1, _usable_cores() // workers)
        self._intra_op_threads = intra_op_threads
        self._loaded: dict[str, PiperVoice] = {}
        self._alone: dict[str, PiperVoice] = {}
        """A second CPU session per voice with a thread per core, for a synthesis that runs
        alone: one client's first audio is what users wait for (2 cores, joe-medium, "Turned
        on the bedside lamp.": 89 instead of 137 ms); syntheses at once share the cores."""
        self._alone_threads = _usable_cores()
        self._running = 0
        self._running_lock = threading.Lock()
        self.device = "cpu"
        """Where the last loaded voice runs ("cuda" or "cpu"), for the status page."""
        self._loading: dict[str, asyncio.Task[PiperVoice]] = {}
        self.cache = SpeechCache(settings.cache_mb * 1024 * 1024)

    async def load(self) -> None:
        """Load and warm the default voice; idempotent, concurrent callers share one load."""
        await self._piper_voice(self.default_voice)

    async def close(self) -> None:
        """Stop the thread pool: queued sentences are dropped, running ones finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def find_voice(self, name: str | None) -> VoiceDescription:
        """The voice a client asked for; an unknown name falls back to the default voice.

        HA may ask for a voice by a name we do not have (an old pipeline setting); speaking
        in the default voice beats failing with no audio.
        """
        if not name:
            return self.default_voice
        voice = self._by_name.get(name) or next(
            (v for v in self.voices if v.name.casefold() == name.casefold()), None
        )
        if voice is None:
            _LOGGER.warning(
                "Unknown voice %r, using the default voice %s", name, self.default_voice.name
            )
            return self.default_voice
        return voice

    async def synthesize(
        self,
        text: str,
        voice: str | None = None,
        speaker: str | None = None,
        *,
        first_clause: bool | None = None,
    ) -> AsyncIterator[SpeechAudio]:
        """Yield one SpeechAudio per sentence as soon as it is ready.

        first_clause: override `split_first_clause` for this text (a streaming caller that
        feeds sentence after sentence wants it only for the first one).
        Raises RtxError (text-too-long) past `max_text_chars`. Closing the iterator (aclose,
        or cancelling the consumer) cancels the sentences that have not started.
        """
        if len(text) > self.settings.max_text_chars:
            raise RtxError(
                f"Text of {len(text)} characters exceeds the limit of "
                f"{self.settings.max_text_chars}",
                code="text-too-long",
            )
        splitter = SentenceSplitter(
            first_clause=self.split_first_clause if first_clause is None else first_clause,
            max_chars=MAX_SEGMENT_CHARS,
        )
        segments = [*splitter.add(text), *splitter.flush()]
        if not segments:
            return

        description = self.find_voice(voice)
        piper_voice = await self._piper_voice(description)
        syn_config = self._syn_config(description, piper_voice, speaker)
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        started = time.perf_counter()

        def submit(segment: str) -> asyncio.Future[bytes]:
            cached = self.cache.get((description.name, syn_config_key, segment)) if short else None
            if cached is not None:
                done: asyncio.Future[bytes] = loop.create_future()
                done.set_result(cached)
                return done
            return loop.run_in_executor(
                self._executor, self._render, description.name, segment, syn_config, stop
            )

        syn_config_key = repr(syn_config)
        # Only short requests (an answer, a streamed sentence) are worth remembering: the
        # sentences of a long text are one-offs that would only push real answers out.
        short = len(text) <= MAX_CACHED_CHARS
        current = submit(segments[0])
        pending: asyncio.Future[bytes] | None = current
        try:
            for index, segment in enumerate(segments):
                # Awaited without error means rendered whole: `stop` is only set below,
                # once this generator is closed.
                pcm = await current
                if short:
                    self.cache.put((description.name, syn_config_key, segment), segment, pcm)
                pending = None
                if index + 1 < len(segments):
                    # Start the next sentence now, so it renders while this one is sent.
                    current = pending = submit(segments[index + 1])
                if index == 0:
                    _LOGGER.debug(
                        "First audio after %.3fs (%s segments, voice %s)",
                        time.perf_counter() - started,
                        len(segments),
                        description.name,
                    )
                if pcm:
                    yield SpeechAudio(
                        rate=piper_voice.config.sample_rate,
                        width=_SAMPLE_WIDTH,
                        channels=_CHANNELS,
                        pcm=pcm,
                        text=segment,
                    )
        finally:
            stop.set()
            if pending is not None:
                pending.cancel()

    def _render(
        self, name: str, text: str, syn_config: SynthesisConfig, stop: threading.Event
    ) -> bytes:
        """`_render` with the voice's every-core session when no other synthesis runs."""
        with self._running_lock:
            self._running += 1
            alone = self._running == 1
        try:
            piper_voice = (self._alone.get(name) if alone else None) or self._loaded[name]
            return _render(piper_voice, text, syn_config, stop)
        finally:
            with self._running_lock:
                self._running -= 1

    def _syn_config(
        self, description: VoiceDescription, piper_voice: PiperVoice, speaker: str | None
    ) -> SynthesisConfig:
        """Synthesis knobs from the settings plus the requested (or default) speaker."""
        return SynthesisConfig(
            speaker_id=_speaker_id(description, piper_voice, speaker or self.settings.speaker),
            length_scale=self.settings.length_scale,
            noise_scale=self.settings.noise_scale,
            noise_w_scale=self.settings.noise_w_scale,
        )

    async def _piper_voice(self, description: VoiceDescription) -> PiperVoice:
        """The loaded voice, loading it once off the loop; callers share an in-flight load."""
        loaded = self._loaded.get(description.name)
        if loaded is not None:
            return loaded
        task = self._loading.get(description.name)
        if task is None:
            task = asyncio.create_task(
                self._load_voice(description), name=f"tts-load-{description.name}"
            )
            self._loading[description.name] = task
            # Read the outcome even when every waiter gave up, so a failure is not "never
            # retrieved" (it was logged in _load_voice).
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        # shield: one caller giving up must not cancel the load the others wait for.
        return await asyncio.shield(task)

    async def _load_voice(self, description: VoiceDescription) -> PiperVoice:
        """Run the blocking load + warm-up in the pool and cache the result.

        A broken model file becomes an RtxError (an `error` event for the client) and is
        retried on the next request rather than cached. A bundled file that fails its digest
        check keeps its own error (ModelIntegrityError): its message already names the file,
        both digests and the fix, and start-up reports it as a model that is not there.
        """
        try:
            loop = asyncio.get_running_loop()
            piper_voice, alone = await loop.run_in_executor(
                self._executor,
                _load_blocking,
                description,
                self.settings.device,
                self._intra_op_threads,
                self._alone_threads,
            )
        except ModelIntegrityError as err:
            _LOGGER.error("%s", err)
            raise
        except Exception as err:
            _LOGGER.error("Could not load voice %s: %s", description.name, err)
            raise RtxError(
                f"Could not load voice {description.name} from {description.model_path}: {err}",
                code="voice-load-failed",
            ) from err
        finally:
            self._loading.pop(description.name, None)
        self._loaded[description.name] = piper_voice
        if alone is not None:
            self._alone[description.name] = alone
        self.device = voice_device(piper_voice)
        return piper_voice


def _usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_blocking(
    description: VoiceDescription, device: str, threads: int, alone_threads: int
) -> tuple[PiperVoice, PiperVoice | None]:
    """Check a bundled voice's digests, load it and synthesize once (ONNX's warm-up).

    On the CPU, when a core is left over, also the session for a synthesis running alone."""
    verify_voice(description)
    started = time.perf_counter()
    piper_voice = open_voice(description, device, threads)
    alone = None
    if voice_device(piper_voice) == "cpu" and 0 < threads < alone_threads:
        alone = open_voice(description, "cpu", alone_threads, spinning=False)
        _render(alone, _WARM_UP_TEXT, SynthesisConfig(), threading.Event())
    loaded = time.perf_counter()
    _render(piper_voice, _WARM_UP_TEXT, SynthesisConfig(), threading.Event())
    _LOGGER.info(
        "Loaded voice %s on %s in %.2fs (warm-up %.2fs)",
        description.name,
        voice_device(piper_voice),
        loaded - started,
        time.perf_counter() - loaded,
    )
    return piper_voice, alone


def _render(
    piper_voice: PiperVoice, text: str, syn_config: SynthesisConfig, stop: threading.Event
) -> bytes:
    """Text to 16-bit PCM, as piper's own `synthesize` does, with only espeak under a lock.

    piper splits into phonemize -> phoneme ids -> ONNX audio; `PiperVoice.synthesize` would
    phonemize the whole text first and cannot be interrupted between sentences.
    """
    if stop.is_set():
        return b""
    with _ESPEAK_LOCK:
        sentences = piper_voice.phonemize(text)
    parts: list[bytes] = []
    for phonemes in sentences:
        if stop.is_set():
            break
        if not phonemes:
            continue
        phoneme_ids = piper_voice.phonemes_to_ids(phonemes)
        audio = piper_voice.phoneme_ids_to_audio(phoneme_ids, syn_config)
        if isinstance(audio, tuple):  # (audio, alignments) only with include_alignments
            audio = audio[0]
        parts.append(_to_pcm(audio, syn_config))
    return b"".join(parts)


def _to_pcm(audio: np.ndarray, syn_config: SynthesisConfig) -> bytes:
    """Normalize, scale and clip float audio exactly as piper's `synthesize` does."""
    if syn_config.normalize_audio:
        peak = np.max(np.abs(audio))
        audio = np.zeros_like(audio) if peak < 1e-8 else audio / peak
    if syn_config.volume != 1.0:
        audio = audio * syn_config.volume
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    return np.clip(audio * 32767.0, -32767.0, 32767.0).astype(np.int16).tobytes()


def _speaker_id(
    description: VoiceDescription, piper_voice: PiperVoice, speaker: str | None
) -> int | None:
    """Speaker by name or numeric id; None (the voice's default) when unknown or one speaker."""
    if speaker is None or piper_voice.config.num_speakers <= 1:
        return None
    speaker_map = piper_voice.config.speaker_id_map
    if speaker in speaker_map:
        return speaker_map[speaker]
    if speaker.isdigit() and int(speaker) < piper_voice.config.num_speakers:
        return int(speaker)
    _LOGGER.warning(
        "Unknown speaker %r for voice %s, using its default speaker", speaker, description.name
    )
    return None
