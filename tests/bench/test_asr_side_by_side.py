"""The side-by-side speech-to-text bench (bench/asr_side_by_side.py) without servers: the
derived telephone and 44.1 kHz stereo audio, the cut 0.7 s after the end of speech, the
non-speech clips (bench/asr_side_corpus.py), and the table maths on made-up transcripts and
times (bench/asr_side_report.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import asr_side_corpus as corpus
from bench import asr_side_report as report
from bench.asr_side_corpus import NOISY, NON_SPEECH, QUIET, STEREO, TELEPHONE
from bench.asr_side_report import ALL
from bench.client import Audio
from bench.figures import OURS, PEER
from bench.turn_corpus import RATE, Item

SPEECH_END_S = 1.5


def _item(noise: str = "quiet", name: str = "command_01") -> Item:
    return Item(name=name, kind="command", route="local", text="Turn on the patio heater.",
                voice="joe", noise=noise, snr_db=None if noise == "quiet" else 20.0,
                file=f"{name}.wav", seconds=4.5, speech_start_s=0.5,
                speech_end_s=SPEECH_END_S)  # fmt: skip


def _recording() -> np.ndarray:
    """0.5 s of faint noise, 1 s of a 1 kHz + 100 Hz "voice", then 3 s of faint noise."""
    rng = np.random.default_rng(1)
    samples = rng.normal(0.0, 30.0, round(4.5 * RATE))
    t = np.arange(RATE) / RATE
    samples[RATE // 2 : RATE // 2 + RATE] += 8000 * (
        np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 100 * t)
    )
    return samples


def _pcm(audio: Audio) -> np.ndarray:
    frames = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float64)
    return frames.reshape(-1, audio.channels)


def _band_rms(x: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    bins = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[np.abs(bins - freq) < 5].max())


def test_each_item_is_cut_0_7_s_after_its_speech_in_every_format() -> None:
    utterances = corpus.derive(_item(), _recording())
    assert [u.subset for u in utterances] == [QUIET, TELEPHONE, STEREO]
    formats = {u.subset: (u.audio.rate, u.audio.channels, u.audio.width) for u in utterances}
    assert formats == {QUIET: (16000, 1, 2), TELEPHONE: (8000, 1, 2),
                       STEREO: (44100, 2, 2)}  # fmt: skip
    for u in utterances:
        assert u.audio.seconds == pytest.approx(SPEECH_END_S + 0.7, abs=1 / u.audio.rate)
        assert u.reference == "Turn on the patio heater."
        # the tail is the room's own 0.7 s: quiet, but not cut into the speech
        pcm = _pcm(u.audio)[:, 0]
        tail = pcm[-round(0.65 * u.audio.rate) :]
        speech = pcm[round(0.6 * u.audio.rate) : round(1.4 * u.audio.rate)]
        assert np.sqrt((tail**2).mean()) < 100 < np.sqrt((speech**2).mean())
    assert corpus.derive(_item("pink"), _recording())[0].subset == NOISY


def test_telephone_keeps_the_voice_band_and_drops_what_is_below_it() -> None:
    phone = _pcm(corpus.derive(_item(), _recording())[1].audio)[:, 0]
    voice = phone[round(0.6 * 8000) : round(1.4 * 8000)]
    assert _band_rms(voice, 8000, 1000) > 20 * _band_rms(voice, 8000, 100)


def test_stereo_has_two_matching_channels_the_right_one_1_db_lower() -> None:
    stereo = _pcm(corpus.derive(_item(), _recording())[2].audio)
    left, right = stereo[:, 0], stereo[:, 1]
    level = 20 * np.log10(np.sqrt((right**2).mean()) / np.sqrt((left**2).mean()))
    assert level == pytest.approx(-1.0, abs=0.05)
    assert np.corrcoef(left, right)[0, 1] > 0.999


def test_a_recording_too_short_for_the_tail_is_refused() -> None:
    with pytest.raises(ValueError):
        corpus.cut_after_speech(np.zeros(RATE * 2), RATE, 1.5)


def test_non_speech_clips_are_10_s_at_16_khz_and_never_clip() -> None:
    speech = [_recording()[RATE // 2 : RATE + RATE // 2]]
    clips = corpus.non_speech(speech)
    assert [c.name for c in clips] == ["tones", "fan", "chords", "tv-babble"]
    for clip in clips:
        pcm = _pcm(clip.audio)[:, 0]
        assert clip.subset == NON_SPEECH and clip.reference == ""
        assert (clip.audio.rate, clip.audio.channels) == (16000, 1)
        assert clip.audio.seconds == pytest.approx(10.0)
        assert 0 < np.abs(pcm).max() < 32767
    babble = _pcm(clips[-1].audio)[:, 0]
    assert 20 * np.log10(np.sqrt((babble**2).mean()) / 32768) == pytest.approx(-40, abs=0.5)
    assert _pcm(corpus.non_speech(speech)[0].audio).tobytes() == _pcm(clips[0].audio).tobytes()


def test_quick_takes_a_quiet_and_a_noisy_item_of_each_kind() -> None:
    items = [_item("quiet", "a"), _item("pink", "b"), _item("quiet", "c"), _item("brown", "d")]
    assert [i.name for i in corpus.quick_items(items)] == ["a", "b"]
    assert [i.name for i in corpus.quick_items(items[::2])] == ["a", "c"]


def _rec(role: str, name: str, subset: str, ref: str, text: str, ms: float | None) -> report.Record:
    return report.Record(role, name, subset, ref, text, None if ms is None else ms / 1000)


RECORDS = [
    # quiet: ours 0 errors, peer 1 (a name missed)
    _rec(OURS, "q", QUIET, "Turn on the patio heater.", "Turn on the patio heater.", 50),
    _rec(PEER, "q", QUIET, "Turn on the patio heater.", "Turn on the patio eater.", 400),
    # noisy: ours 2 errors, peer 0
    _rec(OURS, "n", NOISY, "Lock the mudroom door.", "Lock the mud room", 70),
    _rec(PEER, "n", NOISY, "Lock the mudroom door.", "Lock the mudroom door.", 500),
    # telephone: ours failed (every word lost), peer right
    _rec(OURS, "t", TELEPHONE, "Open the skylight shade.", "", None),
    _rec(PEER, "t", TELEPHONE, "Open the skylight shade.", "Open the skylight shade.", 300),
    _rec(OURS, "fan", NON_SPEECH, "", "", 40),
    _rec(PEER, "fan", NON_SPEECH, "", "Thank you.", 600),
]
NAMES = ["Patio", "Patio Heater", "Mudroom", "Mudroom Door", "Skylight Shade"]


def test_wer_table_per_subset_and_pooled() -> None:
    rows = {row["subset"]: row for row in report.wer_table(RECORDS, NAMES)}
    assert rows[QUIET][OURS]["wer"] == 0 and rows[QUIET][PEER]["wer"] == 0.2
    assert rows[NOISY][OURS]["errors"] == 2 and rows[NOISY][OURS]["words"] == 4
    assert rows[TELEPHONE][OURS]["wer"] == 1.0 and rows[TELEPHONE][OURS]["failed"] == 1
    assert rows[STEREO][OURS]["wer"] is None and rows[STEREO]["wer_ratio"] is None
    pooled = rows[ALL]
    assert pooled[OURS]["words"] == 13 and pooled[OURS]["errors"] == 6
    assert pooled[PEER]["errors"] == 1 and pooled["wer_ratio"] == pytest.approx(6.0)
    # names: patio heater, mudroom door, skylight shade said once each
    assert (pooled[OURS]["names_said"], pooled[OURS]["names_missed"]) == (3, 2)
    assert (pooled[PEER]["names_said"], pooled[PEER]["names_missed"]) == (3, 1)


def test_latency_non_speech_goals_and_worse_items() -> None:
    latency = {row["subset"]: row for row in report.latency_table(RECORDS)}
    assert latency[ALL][OURS]["count"] == 2  # the failed request has no time
    assert latency[ALL][OURS]["p50"] == pytest.approx(0.060)
    assert latency[ALL][PEER]["p50"] == pytest.approx(0.400)
    assert latency[ALL][PEER]["p90"] == pytest.approx(0.500)  # nearest rank
    assert latency[NON_SPEECH][PEER]["p50"] == pytest.approx(0.600)
    ns = report.non_speech_table(RECORDS)
    assert [(r["clip"], r[OURS]["words"], r[PEER]["words"]) for r in ns] == [("fan", 0, 2)]
    wer_rows = report.wer_table(RECORDS, NAMES)
    met = {goal: ok for goal, _, ok in report.goals(wer_rows, report.latency_table(RECORDS), ns)}
    assert met == {
        "pooled WER <= 0.8 x the peer's": False,
        "noisy WER no worse than the peer's": False,
        "telephone WER no worse than the peer's": False,
        "0 words from non-speech": True,
        "audio-stop -> transcript p50 <= 100 ms": True,
    }
    worse = report.worse_items(RECORDS)
    assert [w["utterance"] for w in worse] == ["t", "n"]
    text = report.render(["# head"], wer_rows, report.latency_table(RECORDS), ns, worse)
    assert "| all pooled | 3 (1/0 failed) | 13 | 46.2 % | 7.7 % | 6.00 |" in text
    assert "NOT met" in text and "'Thank you.'" in text
