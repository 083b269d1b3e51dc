"""The short encoder window: same words as the full window, and a loop falls back to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.asr.short_window import window_frames
from wyoming_rtx.settings import AsrSettings

from .conftest import read_wav_16k_mono

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "corpus"
COMMANDS = [
    entry
    for entry in json.loads((CORPUS / "corpus.json").read_text())["entries"]
    if entry["kind"] == "command"
]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def test_window_covers_the_audio_plus_headroom_and_full_length_uses_the_standard_path() -> None:
    assert window_frames(16000 * 2, 15.0) == 1500
    assert window_frames(16000 * 14, 15.0) == 1600  # 14 s + 2 s headroom
    assert window_frames(16000 * 28, 15.0) is None
    assert window_frames(16000 * 2, 30.0) is None
    assert all(window_frames(16000 * n, 7.3) % 2 == 0 for n in range(1, 20))  # type: ignore[operator]


def test_the_full_window_is_the_default() -> None:
    """Accuracy first: the short window is an opt-in (see short_window.py for the figures)."""
    assert AsrEngine(AsrSettings(device="cpu")).window_seconds == 30.0
    assert AsrEngine(AsrSettings(device="cpu", window_seconds=15)).window_seconds == 15.0


async def test_15_s_window_hears_the_command_corpus_like_the_full_window(
    engine: AsrEngine,
) -> None:
    """Both windows on the bundled model over the clean piper command corpus: identical
    words, and no fallback was needed (a fallback would hide a short-window problem)."""
    assert engine.window_seconds == 30.0
    short = AsrEngine(AsrSettings(window_seconds=15))
    try:
        for entry in COMMANDS:
            pcm = read_wav_16k_mono(CORPUS / entry["file"])
            short_text = (await short.decode(pcm, "en")).text
            full_text = (await engine.decode(pcm, "en")).text
            assert _words(short_text) == _words(full_text), entry["file"]
        assert short.window_fallbacks == 0
    finally:
        await short.close()


@pytest.mark.timeout(240)
async def test_a_looping_short_window_is_redone_in_full() -> None:
    """A 5 s window makes tiny.en repeat itself to the token cap on most of these commands;
    the engine must notice and still return the right words."""
    engine = AsrEngine(AsrSettings(window_seconds=5))
    try:
        for entry in COMMANDS[:6]:
            pcm = read_wav_16k_mono(CORPUS / entry["file"])
            text = (await engine.decode(pcm, "en")).text
            assert _words(text) == _words(entry["text"]).replace("fifty percent", "50"), text
        assert engine.window_fallbacks >= 1, "no loop at 5 s: the fallback went untested"
    finally:
        await engine.close()


def test_repeated_word_runs_are_loops_but_ordinary_commands_are_not() -> None:
    from wyoming_rtx.asr.short_window import _repeats_itself

    assert _repeats_itself("Lock the front door. Lock the front door.")
    assert _repeats_itself("set the lights to the lights to fifty")
    assert not _repeats_itself("Turn off the lights in the kitchen and the hallway.")
    assert not _repeats_itself("that that is is")  # runs shorter than three words


def test_command_window_is_on_for_cpu_and_off_for_cuda_by_default() -> None:
    assert AsrEngine(AsrSettings(device="cpu")).command_window_seconds == 15.0
    off = AsrEngine(AsrSettings(device="cpu", command_window_seconds=30))
    assert off.command_window_seconds == 30.0


async def test_fast_command_text_is_kept_only_when_accepted(engine: AsrEngine) -> None:
    """`accept` sees the fast (15 s window) text: kept when accepted, else the same window's
    further tries decide; without `accept` (the plain STT service) only the full window
    runs."""
    pcm = read_wav_16k_mono(CORPUS / "kitchen_lights_on.wav")
    seen: list[str] = []

    def accept_all(text: str) -> bool:
        seen.append(text)
        return True

    kept, redone = engine.command_window_kept, engine.command_window_redone
    fast = await engine.decode_command(pcm, "en", accept_all)
    assert _words(fast.text) == "turn on the kitchen lights" and len(seen) == 1
    assert (engine.command_window_kept, engine.command_window_redone) == (kept + 1, redone)

    def refuse(text: str) -> bool:
        seen.append(text)
        return False

    second = await engine.decode_command(pcm, "en", refuse)
    # the fast text, the same window's with the names as a sentence and without them, then
    # beam search with the names listed and as a sentence; the text without the names stays
    assert len(seen) == 6 and _words(second.text) == "turn on the kitchen lights"
    assert engine.command_window_redone == redone + 1

    plain = await engine.decode_command(pcm, "en", None)
    assert len(seen) == 6 and _words(plain.text) == "turn on the kitchen lights"


async def test_a_decode_without_the_names_reuses_the_fast_decodes_encoding(
    engine: AsrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names enter only the decoder: the same audio in the same window is encoded once,
    and the reused encoding gives the words a fresh one gives."""
    pcm = read_wav_16k_mono(CORPUS / "kitchen_lights_on.wav")[:-320]  # not decoded before
    model = engine._model  # noqa: SLF001 - the encoder is what is counted
    assert model is not None
    encoded: list[int] = []
    encode = model.encode

    def counting(features, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        encoded.append(features.shape[-1])
        return encode(features, *args, **kwargs)

    monkeypatch.setattr(model, "encode", counting)
    monkeypatch.setattr(engine, "vocabulary", lambda: "Kitchen, living room, kitchen lights.")
    biased = await engine.decode(pcm, "en", 15.0, vocabulary=True)
    sentence = await engine.decode(pcm, "en", 15.0, vocabulary=True, names_as_sentence=True)
    plain = await engine.decode(pcm, "en", 15.0, vocabulary=False)
    assert len(encoded) == 1
    other = bytes(3200) + pcm  # other audio (0.1 s later): encoded afresh
    fresh = await engine.decode(other, "en", 15.0, vocabulary=False)
    assert len(encoded) == 2
    assert _words(biased.text) == _words(sentence.text) == _words(plain.text) == _words(fresh.text)
    assert _words(plain.text) == "turn on the kitchen lights"


async def test_a_beam_try_the_short_window_cannot_decode_heard_nothing(
    engine: AsrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decode at the engine's own beam whose short window gives up (a loop at the token
    cap) is redone with the full window; a command window's beam-search try is not (a beam
    search over 30 s would cost a second or more): it heard nothing, and the next try or the
    text without the names decides."""
    pcm = read_wav_16k_mono(CORPUS / "kitchen_lights_on.wav")
    monkeypatch.setattr("wyoming_rtx.asr.engine.decode_short_scored", lambda *a, **k: None)
    fallbacks = engine.window_fallbacks
    own = await engine.decode(pcm, "en", 15.0, vocabulary=False)
    assert _words(own.text) == "turn on the kitchen lights"
    assert engine.window_fallbacks == fallbacks + 1
    beam = await engine.decode(pcm, "en", 15.0, vocabulary=False, beam_size=5)
    assert beam.text == "" and engine.window_fallbacks == fallbacks + 1
