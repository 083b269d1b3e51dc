"""The end-of-turn bench (bench/end_of_turn.py, bench/turn_corpus.py, bench/turn_score.py)
without a server: the recordings' pause and end of speech where they were made, and the cut-off
and statistics rules on made-up numbers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import end_of_turn as eot
from bench import turn_corpus as tc
from bench import turn_rig as rig
from bench import turn_score as score

RATE = tc.RATE


def _burst(seconds: float, quiet_edges: float = 0.05, freq: float = 220.0) -> np.ndarray:
    """A tone of ``seconds`` with faint noise before and after it (a synthesized word)."""
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 8000 * np.sin(2 * np.pi * freq * t)
    edge = np.random.default_rng(0).normal(0, 3, round(quiet_edges * RATE))
    return np.concatenate([edge, tone, edge])


@pytest.mark.parametrize("pause", [0.5, 0.73, 1.0])
def test_join_puts_the_pause_exactly_where_it_says(pause: float) -> None:
    joined, start, end = tc.join_with_pause(_burst(0.8), _burst(0.6, freq=330.0), pause)
    assert end - start == pytest.approx(pause)
    frames = set(tc.speech_frames(joined).tolist())
    first, last = round(start * 100), round(end * 100)
    assert first - 1 in frames and last in frames  # speech on both sides of the pause
    assert not frames & set(range(first, last))  # and none inside it
    assert tc.speech_bounds(joined)[1] == pytest.approx(len(joined) / RATE - 0.05, abs=0.011)


def test_speech_end_is_the_last_frame_within_30_db() -> None:
    audio = np.concatenate([np.zeros(1600), _burst(0.5, 0.0), np.full(3200, 100.0)])
    # the -35 dB hum after the tone is not speech; the tone ends at 0.6 s
    assert tc.speech_bounds(audio) == pytest.approx((0.1, 0.6))


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"
)
def test_a_generated_hesitation_has_its_pause_and_end_where_recorded(tmp_path: Path) -> None:
    voice = next(v for v in tc.VOICES if v.engine == "espeak")
    specs = [
        {"kind": "hesitation", "route": "local", "text": "Turn on the patio heater.",
         "first": "Turn on the", "second": "patio heater.", "voice": voice},
        {"kind": "slow", "route": "local", "text": "Lock the mudroom door.",
         "voice": voice.slowed()},
    ]  # fmt: skip
    items = tc.generate(tc.Plan(seed=7, noisy_share=0.0), tmp_path, log=False, specs=specs)
    hesitation, slow = items
    pause_start, pause_end = hesitation.pause_start_s, hesitation.pause_end_s
    assert pause_start is not None and pause_end is not None
    assert 0.5 <= pause_end - pause_start <= 1.0
    assert hesitation.speech_start_s < pause_start < hesitation.speech_end_s
    assert hesitation.after_pause == "patio heater."
    for item in items:
        assert item.noise == "quiet"
        samples = np.frombuffer(tc.read_pcm(tmp_path / item.file), dtype="<i2").astype(float)
        # -60 dBFS room noise is far below the 30 dB rule: the file shows the recorded bounds
        start, end = tc.speech_bounds(samples)
        assert start == pytest.approx(item.speech_start_s, abs=0.011)
        assert end == pytest.approx(item.speech_end_s, abs=0.011)
        assert item.seconds == pytest.approx(item.speech_end_s + tc.TAIL_SECONDS, abs=0.011)
    frames = set(tc.speech_frames(
        np.frombuffer(tc.read_pcm(tmp_path / hesitation.file), dtype="<i2").astype(float)
    ).tolist())  # fmt: skip
    assert not frames & set(range(round(pause_start * 100), round(pause_end * 100)))
    assert slow.pause_s is None and slow.voice.endswith("-slow")


def test_the_corpus_plan_covers_every_kind_with_several_voices() -> None:
    specs = tc.item_specs()
    kinds = {kind: [s for s in specs if s["kind"] == kind] for kind in tc.KINDS}
    assert 40 <= len(specs) <= 60
    assert all(len(kinds[k]) >= 8 for k in tc.KINDS)
    assert len({s["voice"].id for s in specs}) >= 8
    assert {s["voice"].engine for s in specs} == {"piper", "espeak"}
    demo = (Path(tc.ROOT) / "wyoming_rtx" / "home" / "demo_home.yaml").read_text().lower()
    home = (Path(tc.ROOT) / "bench" / "turn_home.yaml").read_text()
    for name in ("Patio Heater", "Nightstand Lamp", "Kitchen Island Pendants", "Study"):
        assert name in home and name.lower() not in demo


# --- statistics ---------------------------------------------------------------------------


def _item(**overrides: object) -> tc.Item:
    fields: dict[str, Any] = dict(name="hesitation_01", kind="hesitation", route="local",
                  text="Turn on the patio heater.", voice="joe", noise="quiet", snr_db=None,
                  file="x.wav", seconds=5.0, speech_start_s=0.5, speech_end_s=2.5,
                  pause_start_s=1.2, pause_end_s=1.9, after_pause="patio heater.")  # fmt: skip
    fields.update(overrides)
    return tc.Item(**fields)


def _record(config: str, item: tc.Item, *, ended: float, sound: float | None,
            server_stop: float | None = None, transcript: str = "", source: str = "local",
            ) -> score.TurnRecord:  # fmt: skip
    """A turn whose clock started at 100 s: ``ended`` etc. are seconds from the item's start."""
    stamps = rig.TurnStamps(t0=100.0, ended=100.0 + ended, end_reason="silence")
    if server_stop is not None:
        stamps.events["voice-stopped"] = 100.0 + server_stop
    if sound is not None:
        stamps.first_sound = 100.0 + sound
    config_obj = eot.CONFIGS[config]
    return score.build_record(config_obj, item, stamps, transcript or item.text, "ok",
                              {"source": source}, 0)  # fmt: skip


def test_cut_off_rules() -> None:
    assert score.is_cut_off(1.7, 2.5) and not score.is_cut_off(2.6, 2.5)
    assert not score.is_cut_off(None, 2.5)
    assert score.cut_in_pause(1.7, 1.2, 2.5)
    assert not score.cut_in_pause(1.0, 1.2, 2.5)  # before the pause: not a hesitation cut
    assert not score.cut_in_pause(2.6, 1.2, 2.5)
    assert not score.cut_in_pause(1.7, None, 2.5)
    assert score.words_lost("Turn on the.", "patio heater.")
    assert score.words_lost("Turn on the patio.", "patio heater.") is False  # half is enough
    assert not score.words_lost("turn on the patio heater", "patio heater.")


def test_build_record_times_from_the_true_end_of_speech() -> None:
    item = _item()
    cut = _record("fixed500", item, ended=1.75, sound=2.4, transcript="Turn on the")
    assert cut.endpoint_s == pytest.approx(-0.75)
    assert cut.cut_off and cut.cut_in_pause and cut.words_lost
    assert cut.ended_by == "satellite:silence"
    whole = _record("smart", item, ended=2.9, server_stop=2.8, sound=3.1)
    assert whole.ended_by == "server" and whole.ended_at_s == pytest.approx(2.8)
    assert whole.endpoint_s == pytest.approx(0.3)
    assert whole.first_sound_s == pytest.approx(0.6)
    assert not (whole.cut_off or whole.cut_in_pause or whole.words_lost)


def test_summary_and_goals_on_made_up_turns() -> None:
    command = _item(name="command_01", kind="command", pause_start_s=None, pause_end_s=None,
                    after_pause="", speech_end_s=2.0)  # fmt: skip
    question = _item(name="question_01", kind="question", route="llm", pause_start_s=None,
                     pause_end_s=None, after_pause="", speech_end_s=2.0,
                     text="What is the capital of France?")  # fmt: skip
    slow = _item(name="slow_01", kind="slow", pause_start_s=None, pause_end_s=None,
                 after_pause="", speech_end_s=3.0)  # fmt: skip
    records = [
        *(_record("fixed500", command, ended=2.55, sound=2.0 + ms / 1000)
          for ms in (300, 320, 340, 360, 900)),
        _record("fixed500", command, ended=2.55, sound=2.4, source="llm"),  # misheard
        _record("fixed500", question, ended=2.55, sound=2.85, source="llm"),
        _record("fixed500", _item(), ended=1.75, sound=2.4, transcript="Turn on the"),
        _record("fixed500", _item(), ended=3.05, sound=3.4),
        _record("fixed500", slow, ended=2.5, sound=3.2),
    ]  # fmt: skip
    commands = score.summarize(records, "fixed500", "command")
    assert commands.turns == 6 and commands.local == 5
    assert commands.p50(commands.first_sound_ms) == pytest.approx(350)
    hes = score.summarize(records, "fixed500", "hesitation")
    assert hes.ended_early == 1 and hes.cut_in_pause == 1 and hes.words_lost == 1
    assert hes.first_sound_ms == pytest.approx([900])  # the cut-off turn has no latency
    assert hes.endpoint_ms == pytest.approx([550])
    assert hes.wer == pytest.approx(2 / 10)
    checks = {goal: (figure, met) for goal, figure, met in score.goals(records, "fixed500")}
    assert checks["local command p50 <= 350 ms"] == ("340", True)  # the LLM-routed one is out
    assert checks["local command p95 <= 500 ms"] == ("900", False)
    assert checks["LLM answer p50 <= 900 ms"] == ("850", True)
    assert checks["hesitations cut off <= 2 %"] == ("50 %", False)
    assert checks["no slow command ended early"] == ("1/1", False)
    table = score.report(records, [eot.CONFIGS["fixed500"]], ["header"])
    assert "| fixed 500 ms | hesitation (0.5-1.0 s) | 2 |" in table
    assert "1/2 (50 %)" in table


def test_quick_items_take_each_kind_through_the_voices() -> None:
    items = [_item(name=f"{s['kind']}_{n:02d}", kind=s["kind"], voice=s["voice"].id)
             for n, s in enumerate(tc.item_specs())]  # fmt: skip
    quick = eot.quick_items(items)
    assert [i.kind for i in quick].count("hesitation") == eot.QUICK["hesitation"]
    assert len(quick) == sum(eot.QUICK.values())
    assert len({i.voice for i in quick}) >= 5
