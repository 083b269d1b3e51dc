"""Number-only tests for the benchmark's WER, statistics, report formatting and client helpers."""

from __future__ import annotations

import json
import urllib.request

import pytest

from bench.client import Audio, stream_chunks
from bench.fake_ollama import ANSWER, FakeOllama
from bench.figures import OURS, PEER, Figure, summary_figure
from bench.report import format_value, goals_table, markdown_tables
from bench.stats import median, percentile, ratio
from bench.wer import corpus_wer, edit_distance, normalize, number_words, word_errors


@pytest.mark.parametrize(
    ("value", "words"),
    [(0, "zero"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"), (100, "one hundred"),
     (342, "three hundred forty two")],
)  # fmt: skip
def test_number_words(value: int, words: str) -> None:
    assert number_words(value) == words


def test_number_words_out_of_range() -> None:
    with pytest.raises(ValueError):
        number_words(1000)


def test_normalize_drops_case_punctuation_and_spells_numbers() -> None:
    assert normalize(" Set the lights to 50%.") == "set the lights to fifty percent".split()
    assert normalize("Set the thermostat to 21 degrees!") == normalize(
        "set the thermostat to twenty-one degrees"
    )
    assert normalize("What's up?") == ["what's", "up"]


def test_edit_distance_counts_each_kind_of_error() -> None:
    ref = "turn on the kitchen light".split()
    assert edit_distance(ref, ref) == 0
    assert edit_distance(ref, "turn off the kitchen light".split()) == 1  # substitution
    assert edit_distance(ref, "turn on kitchen light".split()) == 1  # deletion
    assert edit_distance(ref, "please turn on the kitchen light".split()) == 1  # insertion
    assert edit_distance(ref, []) == 5
    assert edit_distance([], ["x", "y"]) == 2


def test_word_errors_ignore_formatting_only() -> None:
    assert word_errors("Set the living room lights to fifty percent.", " set the living room "
                       "lights to 50%") == (0, 8)  # fmt: skip
    assert word_errors("Lock the front door.", "Lock the back door.") == (1, 4)


def test_corpus_wer_weights_by_reference_words() -> None:
    # 1 error in 4 words + 0 in 6 words = 1/10, not the mean of 1/4 and 0.
    pairs = [("lock the front door", "lock the back door"),
             ("turn on the kitchen lights now", "turn on the kitchen lights now")]  # fmt: skip
    assert corpus_wer(pairs) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        corpus_wer([("", "anything")])


def test_median_and_nearest_rank_percentile() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert percentile([float(i) for i in range(1, 11)], 95) == 10.0
    assert percentile([5.0], 95) == 5.0
    with pytest.raises(ValueError):
        percentile([], 95)


def test_ratio_is_ours_over_peer() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 1.0) is None
    assert ratio(1.0, 0.0) is None


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(0.6304, "s", "630 ms"), (12.34, "s", "12.3 s"), (1.54, "%", "1.5 %"),
     (0.555, "req/s", "0.56 req/s"), (263.7, "MB", "264 MB"), (None, "s", "—")],
)  # fmt: skip
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_markdown_table_rows_and_ratio() -> None:
    fast = summary_figure("asr.realtime.c1.command.median", "ASR, 1 client, x", "finish",
                          {OURS: [0.2, 0.3, 0.25], PEER: [0.9, 0.8, 0.75]}, "median",
                          failures={PEER: 2})  # fmt: skip
    missing = Figure(id="turn.local.audio-chunk", group="Turn, direct", label="turn",
                     unit="s", values={OURS: 0.5})  # fmt: skip
    text = markdown_tables([fast, missing], {"ASR": "wyoming-faster-whisper"})
    assert "### ASR, 1 client, x (peer: wyoming-faster-whisper)" in text
    assert "| finish | 250 ms | 800 ms (2 failed) | 0.31× |" in text
    assert "| turn | 500 ms | — | — |" in text


def test_goals_table_marks_met_and_unmet() -> None:
    asr = Figure(id="asr.realtime.c1.command.median", group="g", label="l", unit="s",
                 values={OURS: 0.2, PEER: 0.9})  # fmt: skip
    c4 = Figure(id="asr.realtime.c4.p95", group="g", label="l", unit="s",
                values={OURS: 2.0, PEER: 3.0})  # fmt: skip
    turn = Figure(id="turn.local.audio-chunk", group="g", label="l", unit="s",
                  values={OURS: 0.65})  # fmt: skip
    lines = goals_table([asr, c4, turn]).splitlines()
    assert any("0.22×" in ln and ln.endswith("| yes |") for ln in lines)
    assert any("0.67×" in ln and ln.endswith("| no |") for ln in lines)
    assert any("650 ms" in ln and "≤ 700 ms" in ln and ln.endswith("| yes |") for ln in lines)
    assert sum(ln.endswith("| — |") for ln in lines) == 4  # the TTS goals: not measured here


def test_stream_chunks_rejoin_to_the_text() -> None:
    text = "It is twenty one degrees. The door is locked."
    chunks = stream_chunks(text, words=3)
    assert "".join(chunks) == text
    assert len(chunks) == 3


def test_audio_chunks_are_10_ms_and_frame_aligned() -> None:
    stereo = Audio(name="x", rate=44100, width=2, channels=2, pcm=bytes(4 * 44100))
    chunks = stereo.chunks()
    assert len(chunks[0]) == 441 * 4
    assert len(chunks) == 100
    padded = stereo.with_silence(0.7)
    assert padded.seconds == pytest.approx(1.7)


def test_fake_ollama_streams_the_answer() -> None:
    fake = FakeOllama(tokens_per_s=1000.0, first_token_s=0.0)
    fake.start()
    try:
        request = urllib.request.Request(
            fake.url + "/api/chat", data=json.dumps({"model": "bench", "messages": []}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            lines = [json.loads(line) for line in response.read().splitlines() if line]
    finally:
        fake.stop()
    assert "".join(line["message"]["content"] for line in lines) == ANSWER
    assert lines[-1]["done"] is True
    assert fake.chat_requests == 1
