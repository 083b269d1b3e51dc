"""Piper text-to-speech engine: sentence by sentence, off the event loop, parallel across clients.

Each request is cut into sentences so the first audio is ready after one sentence's inference,
not the whole text's. The first sentence comes sooner still: on the CPU a voice is cut into its
encoder, flow and decoder (`split_voice`), so that sentence is spoken in pieces, the first a
fifth of a second long, each rendered while the one before plays. (A voice that cannot be cut
speaks a long first sentence's first clause on its own instead.) Work runs in one shared thread
pool sized by `TtsSettings.parallel`: ONNX Runtime sessions may run from several threads at
once, so different clients' sentences are inferred in parallel. Only the espeak-ng phonemizer,
a process-wide C library, is serialized. Each request keeps at most one render in flight, and
closing its iterator cancels what has not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from piper import PiperVoice, SynthesisConfig

from ..errors import RtxError
from ..model_digests import ModelIntegrityError
from ..settings import TtsSettings
from .loading import load_voice
from .render import (
    HEAD_FRAMES,
    Piece,
    continue_stages,
    next_piece_frames,
    render_stages,
    render_whole,
)
from .sentences import SentenceSplitter
from .speech_cache import MAX_CACHED_CHARS, SpeechCache
from .split_voice import VoiceStages
from .voices import VoiceDescription, discover_voices

_LOGGER = logging.getLogger(__name__)

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
    """Audio for one sentence, or one piece of it, 16-bit little-endian mono PCM."""

    rate: int
    width: int
    channels: int
    pcm: bytes
    text: str
    """The sentence (or first clause) this audio speaks, or is a piece of."""


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

        split_first_clause: make the first audio come sooner: a cut voice speaks the first
        sentence in pieces (`render`), another voice a long first sentence's first clause on
        its own.
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
        self._stages: dict[str, VoiceStages] = {}
        """A CPU voice cut into encoder, flow and decoder: its sentences are rendered through
        these (in pieces when the first audio is waited for), not through `_loaded`'s session."""
        self._stages_alone: dict[str, VoiceStages] = {}
        self._peak: dict[str, float] = {}
        """A cut voice's raw peak on `pieces.LOUDNESS_TEXT`, for the gain of its sentences."""
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
        if not text.strip():
            return
        description = self.find_voice(voice)
        piper_voice = await self._piper_voice(description)
        soon = self.split_first_clause if first_clause is None else first_clause
        # A cut voice speaks its first sentence in pieces, the same audio as the whole
        # sentence; only a voice that cannot be cut needs the first clause spoken alone.
        in_pieces = soon and description.name in self._stages
        splitter = SentenceSplitter(
            first_clause=soon and not in_pieces, max_chars=MAX_SEGMENT_CHARS
        )
        segments = [*splitter.add(text), *splitter.flush()]
        if not segments:
            return
        syn_config = self._syn_config(description, piper_voice, speaker)
        syn_config_key = repr(syn_config)
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        started = time.perf_counter()
        # Only short requests (an answer, a streamed sentence) are worth remembering: the
        # sentences of a long text are one-offs that would only push real answers out.
        short = len(text) <= MAX_CACHED_CHARS
        name = description.name

        def submit(segment: str, head: int) -> asyncio.Future[Piece]:
            cached = self.cache.get((name, syn_config_key, segment)) if short else None
            if cached is not None:
                done: asyncio.Future[Piece] = loop.create_future()
                done.set_result(Piece(cached))
                return done
            return loop.run_in_executor(
                self._executor, self._render, name, segment, syn_config, stop, head
            )

        current: asyncio.Future[Piece] = submit(segments[0], HEAD_FRAMES if in_pieces else 0)
        pending: asyncio.Future[Piece] | None = current
        index = 0
        segment_pcm: list[bytes] = []
        # Seconds of audio handed out so far, against the clock since the first piece: what
        # the listener has not yet heard, which the next piece must be ready within.
        audio_ready = 0.0
        first_at = 0.0
        try:
            while True:
                # Awaited without error means rendered: `stop` is only set below, once
                # this generator is closed.
                piece = await current
                pending = None
                now = time.perf_counter()
                if not first_at:
                    first_at = now
                    _LOGGER.debug(
                        "First audio after %.3fs (%s segments, voice %s)",
                        now - started,
                        len(segments),
                        name,
                    )
                audio_ready += len(piece.pcm) / (_SAMPLE_WIDTH * piper_voice.config.sample_rate)
                segment = segments[index]
                segment_pcm.append(piece.pcm)
                if piece.latent is not None:
                    # Start the next piece now, sized to be ready before this audio runs out.
                    frames = next_piece_frames(piece, audio_ready - (now - first_at))
                    current = pending = loop.run_in_executor(
                        self._executor, self._render_more, name, piece, frames, stop
                    )
                else:
                    if short and len(segment_pcm) > 1:
                        # A sentence in pieces is remembered whole.
                        whole = b"".join(segment_pcm)
                        self.cache.put((name, syn_config_key, segment), segment, whole)
                    elif short:
                        self.cache.put((name, syn_config_key, segment), segment, piece.pcm)
                    segment_pcm = []
                    index += 1
                    if index < len(segments):
                        # Start the next sentence now, so it renders while this one is sent.
                        current = pending = submit(segments[index], 0)
                if piece.pcm:
                    yield SpeechAudio(
                        rate=piper_voice.config.sample_rate,
                        width=_SAMPLE_WIDTH,
                        channels=_CHANNELS,
                        pcm=piece.pcm,
                        text=segment,
                    )
                if pending is None:
                    return
        finally:
            stop.set()
            if pending is not None:
                pending.cancel()

    def _render(
        self,
        name: str,
        text: str,
        syn_config: SynthesisConfig,
        stop: threading.Event,
        head: int,
    ) -> Piece:
        """Render a sentence whole, or its first `head` frames when head > 0 and it is longer.

        On the voice's every-core session when no other synthesis runs."""
        if stop.is_set():
            return Piece(b"")
        with self._running_session(name) as (piper_voice, stages):
            if stages is None:
                return Piece(render_whole(piper_voice, text, syn_config, stop))
            return render_stages(
                piper_voice, stages, self._peak[name], text, syn_config, stop, head
            )

    def _render_more(self, name: str, piece: Piece, frames: int, stop: threading.Event) -> Piece:
        """The next `frames` frames of a sentence in pieces (the rest, when fewer are left)."""
        if stop.is_set() or piece.latent is None:
            return Piece(b"")
        with self._running_session(name) as (_piper_voice, stages):
            assert stages is not None
            return continue_stages(stages, piece, frames)

    @contextlib.contextmanager
    def _running_session(self, name: str) -> Iterator[tuple[PiperVoice, VoiceStages | None]]:
        """The voice (and its stages, when cut) to render with now: the every-core sessions
        when this is the only render running, else the ones that share the cores."""
        with self._running_lock:
            self._running += 1
            alone = self._running == 1
        try:
            piper_voice = (self._alone.get(name) if alone else None) or self._loaded[name]
            stages = (self._stages_alone.get(name) if alone else None) or self._stages.get(name)
            yield piper_voice, stages
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
            loaded = await loop.run_in_executor(
                self._executor,
                load_voice,
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
        name = description.name
        if loaded.stages is not None:
            self._stages[name] = loaded.stages
            self._peak[name] = loaded.peak
        if loaded.stages_alone is not None:
            self._stages_alone[name] = loaded.stages_alone
        if loaded.alone is not None:
            self._alone[name] = loaded.alone
        self._loaded[name] = loaded.voice
        self.device = loaded.device
        return loaded.voice


def _usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
