"""AsrEngine and AsrStream against the real bundled tiny.en model."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from wyoming_rtx.asr.engine import AsrEngine, AsrStream
from wyoming_rtx.asr.speech_gate import Transcribed
from wyoming_rtx.errors import RtxError
from wyoming_rtx.settings import AsrSettings

BYTES_PER_SECOND = 32000
LIGHT = "turn on the living room light"
LAMP = "turn on the living room lamp"


def silence(seconds: float) -> bytes:
    """Digital silence of the given length (16 kHz s16le mono)."""
    return bytes(int(seconds * 16000) * 2)


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


async def feed_realtime(
    stream: AsrStream, pcm: bytes, chunk_seconds: float = 0.02, until_speculating: bool = False
) -> None:
    """Feed audio at real-time pace in small chunks, as Home Assistant does."""
    step = int(chunk_seconds * BYTES_PER_SECOND)
    start = time.perf_counter()
    for offset in range(0, len(pcm), step):
        stream.feed(pcm[offset : offset + step])
        if until_speculating and stream.speculative_runs:
            return
        due = start + (offset + step) / BYTES_PER_SECOND
        await asyncio.sleep(max(0.0, due - time.perf_counter()))


def other_tasks() -> set[asyncio.Task]:
    """Tasks on this loop other than the test itself."""
    return asyncio.all_tasks() - {asyncio.current_task()}


async def test_transcribe_16k_mono(engine: AsrEngine, light_pcm: bytes) -> None:
    assert normalise(await engine.transcribe(light_pcm, "en")) == LIGHT


async def test_transcribe_converted_44k_stereo(engine: AsrEngine, lamp_pcm: bytes) -> None:
    assert normalise(await engine.transcribe(lamp_pcm)) == LAMP


async def test_transcribe_local_folder_path_capped(
    capped_engine: AsrEngine, light_pcm: bytes
) -> None:
    assert capped_engine.description.name == "model"
    assert capped_engine.description.version == "local"
    text = normalise(await capped_engine.transcribe(light_pcm))
    assert text.startswith("turn on the living")
    assert "light" not in text


def test_description_and_cpu_defaults_before_load() -> None:
    asr = AsrEngine(AsrSettings())
    assert not asr.loaded
    assert asr.description.name == "tiny.en"
    assert asr.description.languages == ["en"]
    assert asr.description.version
    assert asr.description.attribution.name == "OpenAI"
    assert (asr.device, asr.compute_type, asr.beam_size) == ("cpu", "int8", 1)
    assert asr.num_workers >= 2


async def test_stream_speculative_hit(engine: AsrEngine, light_pcm: bytes) -> None:
    stream = engine.stream("en")
    await feed_realtime(stream, light_pcm + silence(1.0))
    text = await stream.finish()
    assert normalise(text) == LIGHT
    assert stream.speculative_hit is True
    assert stream.speculative_runs == 1
    assert stream.seconds == pytest.approx(len(light_pcm) / BYTES_PER_SECOND + 1.0, abs=0.02)


async def test_audio_sent_in_one_burst_is_not_decoded_at_its_pauses(
    engine: AsrEngine, light_pcm: bytes, lamp_pcm: bytes
) -> None:
    """A file sent at once has its `audio-stop` right behind it: decodes at its pauses (here
    two commands, each followed by silence) would only compete with the one that counts."""
    stream = engine.stream("en")
    stream.feed(light_pcm + silence(0.5) + lamp_pcm)
    text = normalise(await stream.finish())
    assert stream.speculative_runs == 0
    assert stream.speculative_hit is False
    assert "light" in text and "lamp" in text


async def test_stream_speech_resumes_stale_result_dropped(
    engine: AsrEngine, light_pcm: bytes, lamp_pcm: bytes
) -> None:
    # light_pcm ends with ~0.8 s of silence (a speculative decode starts in it); the lamp
    # clip's speech ends at 1.44 s (silero), and it is cut 30 ms later, too soon for a second
    # speculation (DECODE_PAUSE_SECONDS, 64 ms).
    lamp_until_speech_end = lamp_pcm[: int(1.47 * BYTES_PER_SECOND)]
    stream = engine.stream()
    await feed_realtime(stream, light_pcm + lamp_until_speech_end)
    assert stream.speculative_runs == 1
    text = normalise(await stream.finish())
    assert stream.speculative_hit is False
    assert "light" in text and "lamp" in text


async def test_stream_speech_resumes_then_second_speculation(
    engine: AsrEngine, light_pcm: bytes, lamp_pcm: bytes
) -> None:
    stream = engine.stream()
    await feed_realtime(stream, light_pcm + lamp_pcm)
    text = normalise(await stream.finish())
    assert stream.speculative_runs == 2
    assert stream.speculative_hit is True
    assert "light" in text and "lamp" in text


async def test_stream_without_speculation_and_cap(
    capped_engine: AsrEngine, light_pcm: bytes
) -> None:
    stream = capped_engine.stream()
    for offset in range(0, len(light_pcm), 3200):
        stream.feed(light_pcm[offset : offset + 3200])
    assert stream.truncated
    assert stream.seconds == pytest.approx(1.0)
    assert not other_tasks()
    text = normalise(await stream.finish())
    assert stream.speculative_hit is None
    assert text.startswith("turn on the living")
    assert "light" not in text


async def test_cancel_leaves_no_running_task(engine: AsrEngine, light_pcm: bytes) -> None:
    stream = engine.stream()
    await feed_realtime(stream, light_pcm, until_speculating=True)
    await asyncio.sleep(0.05)  # the decode is now running in the executor
    assert stream.pending
    stream.cancel()
    assert not stream.pending
    await asyncio.sleep(0)
    assert not other_tasks()
    stream.feed(light_pcm)  # ignored after cancel
    assert stream.seconds == 0
    with pytest.raises(RtxError):
        await stream.finish()
    assert normalise(await engine.transcribe(light_pcm)) == LIGHT


async def test_concurrent_loads_share_one_load(monkeypatch: pytest.MonkeyPatch) -> None:
    asr = AsrEngine(AsrSettings())
    calls: list[int] = []
    model = object()

    def fake_load() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first load fails")
        time.sleep(0.05)
        return model

    monkeypatch.setattr(asr, "_load_sync", fake_load)
    with pytest.raises(RuntimeError):
        await asr.load()
    await asyncio.gather(asr.load(), asr.load(), asr.load())
    assert len(calls) == 2
    assert asr.loaded
    await asr.close()
    assert not asr.loaded
    with pytest.raises(RtxError):
        await asr.load()


async def test_close_drops_queued_speculation(
    monkeypatch: pytest.MonkeyPatch, light_pcm: bytes
) -> None:
    """Two decodes in flight finish; the queued third one becomes a clear RtxError."""
    asr = AsrEngine(AsrSettings())
    assert asr.num_workers == 2  # this machine: the test below relies on a third one queueing

    started: list[float] = []

    def slow_run(
        model: object,
        audio: object,
        language: str | None,
        window: float,
        prompt: object,
        beam_size: int,
    ) -> Transcribed:
        started.append(time.monotonic())
        time.sleep(0.3)
        return Transcribed("text")

    monkeypatch.setattr(asr, "_load_sync", object)
    monkeypatch.setattr(asr, "_run", slow_run)
    streams = [asr.stream() for _ in range(3)]
    # Fed at speaking pace (audio sent at once is not decoded at its pauses), each until its
    # speculation starts.
    await asyncio.gather(
        *(feed_realtime(stream, light_pcm, until_speculating=True) for stream in streams)
    )
    # Bounded wait (10 s) until both workers run a decode and every stream has one pending:
    # a pending speculation may still be waiting on its VAD scan, so "pending" alone let the
    # engine close with a worker free, and the third decode then ran (1 run in 4).
    for _ in range(1000):
        if len(started) >= 2 and all(stream.pending for stream in streams):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    closing = asyncio.create_task(asr.close())
    results = await asyncio.gather(*(s.finish() for s in streams), return_exceptions=True)
    await closing
    # Which stream's decode was queued depends on when each VAD scan finished.
    assert results.count("text") == 2
    assert sum(isinstance(result, RtxError) for result in results) == 1
    assert not other_tasks()


async def test_cancel_during_vad_scan_keeps_the_busy_vad_out_of_the_pool(
    light_pcm: bytes,
) -> None:
    asr = AsrEngine(AsrSettings())  # never loaded: only the VAD scan runs here
    stream = asr.stream()
    stream.feed(light_pcm[: 32 * 1024])  # a 1 s scan batch, in a worker thread
    await asyncio.sleep(0)  # the scan task has started and awaits its thread
    stream.cancel()
    await asyncio.sleep(0)
    assert not other_tasks()
    assert asr.vads.acquire() is not None and asr.vads.idle == 0  # busy one not pooled
    await asr.close()
