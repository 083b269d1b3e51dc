"""The direct-satellite turn (DESIGN §4, issue 5): end of speech -> first answer audio, per stage.

This is our own path (the peers have no equivalent), so it has no ratio: absolute times with the
stage breakdown (transcript, handled, first audio), for a local command and for an LLM answer
from the fixed-rate fake Ollama. A server that refuses the turn is a note, never a crash.
The satellite streams the same 0.7 s of trailing silence as HA's VAD waits before ``audio-stop``.
The clock starts at the true end of speech in the file (``speech_end_seconds``), and each event
is stamped as it arrives, so a server that ends the turn itself (``--end-of-turn smart``) is
timed from its own decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Attribution, Info, Satellite
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played

from bench.client import CHUNK_SECONDS, HA_TRAILING_SILENCE_S, Audio
from bench.fake_ollama import FakeOllama
from bench.figures import OURS, Figure, Target
from bench.turn_corpus import RATE, speech_bounds

_LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "bench" / "corpus"
UTTERANCES = {"local": "kitchen_lights_on.wav", "llm": "capital_of_france.wav"}
"""A command the demo home answers locally, and a question only an LLM can answer."""
STAGES = (("voice-stopped", "end of turn (the server's)"), ("transcript", "transcript"),
          ("handled", "handled / not-handled"), ("audio-chunk", "first answer audio"))  # fmt: skip


@dataclass(frozen=True)
class TurnResult:
    """Seconds from the end of speech to the first event of each type."""

    after_speech: dict[str, float]
    answer_text: str


async def satellite_turn(
    host: str, port: int, audio: Audio, *, trailing_silence_s: float = HA_TRAILING_SILENCE_S,
    timeout: float = 60.0,
) -> TurnResult:  # fmt: skip
    """One turn as a direct satellite: info, run-pipeline, paced audio, audio-stop, answer."""
    stamps: dict[str, float] = {}
    sent = audio.with_silence(trailing_silence_s)
    fmt = {"rate": sent.rate, "width": sent.width, "channels": sent.channels}
    async with asyncio.timeout(timeout), AsyncTcpClient(host, port) as client:
        await open_turn(client, fmt)
        # Read while sending: an event is stamped when it arrives, not when the audio is all
        # sent (which clamped every stage to the 0.7 s of trailing silence).
        answer_read = asyncio.create_task(read_answer(client, stamps))
        try:
            start = time.perf_counter()
            end_of_speech = start + speech_end_seconds(audio)
            for i, chunk in enumerate(sent.chunks()):
                delay = start + i * CHUNK_SECONDS - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if answer_read.done() or "voice-stopped" in stamps:
                    break  # the server ended the turn: the satellite stops streaming
                await client.write_event(AudioChunk(audio=chunk, **fmt).event())
            if not answer_read.done():
                await client.write_event(AudioStop().event())
            _transcript, answer = await answer_read
        finally:
            answer_read.cancel()
    return TurnResult({k: t - end_of_speech for k, t in stamps.items()}, answer)


def speech_end_seconds(audio: Audio) -> float:
    """Where the speech in `audio` ends, by the corpus's own rule (`turn_corpus.speech_bounds`:
    the end of the last 10 ms frame within 30 dB of the loudest). The corpus files end in
    0.14-0.20 s of piper's own silence, which the clock must not give the server for free."""
    if (audio.rate, audio.width, audio.channels) != (RATE, 2, 1):
        raise ValueError(f"{audio.name}: the turn corpus is 16 kHz 16-bit mono")
    return speech_bounds(np.frombuffer(audio.pcm, dtype="<i2"))[1]


async def open_turn(client: AsyncTcpClient, fmt: dict[str, int]) -> None:
    """How a direct satellite opens a turn (DESIGN §4): its info (area Kitchen), then
    run-pipeline from speech to speech, then audio-start in `fmt` (rate, width, channels)."""
    satellite = Satellite(name="bench-satellite", area="Kitchen", installed=True,
                          attribution=Attribution(name="bench", url=""), description="bench",
                          version="1", has_vad=True)  # fmt: skip
    await client.write_event(Info(satellite=satellite).event())
    await client.write_event(
        RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
    )
    await client.write_event(AudioStart(**fmt).event())


async def read_answer(client: AsyncTcpClient, stamps: dict[str, float]) -> tuple[str, str]:
    """Read the server's answer to the end of its audio, then send `played`.

    Stamps the first arrival of each event type (perf_counter) into `stamps`; "handled" is
    stamped for `not-handled` too. Returns (transcript, answer text); an `error` event or a
    closed connection raises."""
    transcript = answer = ""
    while True:
        event = await client.read_event()
        if event is None:
            raise ConnectionError("server closed the turn before audio-stop")
        stamps.setdefault(event.type, time.perf_counter())
        if Error.is_type(event.type):
            raise RuntimeError(f"server error: {Error.from_event(event).text}")
        if event.type == "transcript":
            transcript = str((event.data or {}).get("text", ""))
        if event.type in ("handled", "not-handled"):
            stamps.setdefault("handled", stamps[event.type])
            answer = str((event.data or {}).get("text", ""))
        if event.type == "audio-stop" and "audio-chunk" in stamps:
            await client.write_event(Played().event())
            return transcript, answer


async def run_turn(
    targets: Sequence[Target], notes: list[str], *, quick: bool, fake: FakeOllama | None
) -> list[Figure]:
    """Local-command and LLM turns against our server; skipped with a note when unavailable."""
    ours = [t for t in targets if t.role == OURS]
    reason = None if ours else "direct-satellite turn skipped: no server"
    if reason:
        print(reason)
        notes.append(reason)
        return []
    target = ours[0]
    repeats = 2 if quick else 5
    figures: list[Figure] = []
    for kind, file_name in UTTERANCES.items():
        if kind == "llm" and fake is None:
            notes.append("LLM turn skipped: our server has no --ollama-url option")
            continue
        audio = Audio.from_wav(CORPUS_DIR / file_name)
        results: list[TurnResult] = []
        chats_before = fake.chat_requests if fake else 0
        for _ in range(repeats):
            try:
                results.append(await satellite_turn(target.host, target.port, audio))
            except Exception as err:  # noqa: BLE001 - reported as a note, the run goes on
                notes.append(f"{kind} turn failed: {err!r}"[:500])
                _LOGGER.warning("%s turn failed: %r", kind, err)
                break
        if not results:
            continue
        chats = (fake.chat_requests - chats_before) if fake else 0
        note = f'answer: "{results[-1].answer_text[:80]}"; LLM requests: {chats}'
        figures += _turn_figures(kind, results, note)
    return figures


def _turn_figures(kind: str, results: Sequence[TurnResult], note: str) -> list[Figure]:
    """Median seconds after the end of speech for each stage (ours only: no peer has this)."""
    from bench.stats import median

    label = "local command" if kind == "local" else "LLM answer (fake Ollama, 30 tok/s)"
    figures = []
    for event_type, stage in STAGES:
        values = [r.after_speech[event_type] for r in results if event_type in r.after_speech]
        figures.append(
            Figure(id=f"turn.{kind}.{event_type}", group="Turn, direct satellite",
                   label=f"{label}: end of speech -> {stage}, median", unit="s",
                   values={OURS: median(values) if values else None}, samples={OURS: values},
                   note=note)
        )  # fmt: skip
    return figures
