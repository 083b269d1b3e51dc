"""The turn state machine, with numbers only."""

from __future__ import annotations

import pytest

from satellite.turn import EndReason, TurnDetector, TurnState, TurnTimings

CHUNK = 0.032


def feed(detector: TurnDetector, pattern: list[tuple[bool, float]]) -> TurnState:
    state = detector.state
    for is_speech, seconds in pattern:
        for _ in range(round(seconds / CHUNK)):
            state = detector.process(is_speech, CHUNK)
    return state


def test_speech_then_silence_ends_the_turn_after_the_silence_window() -> None:
    detector = TurnDetector(TurnTimings(silence_seconds=0.5))
    assert feed(detector, [(False, 0.32), (True, 1.6)]) is TurnState.SPEAKING
    assert feed(detector, [(False, 0.48)]) is TurnState.SPEAKING  # 15 chunks < 0.5 s
    assert detector.process(False, CHUNK) is TurnState.ENDED
    assert detector.end_reason is EndReason.SILENCE
    assert detector.last_speech_at == pytest.approx(1.92)
    assert detector.elapsed - detector.last_speech_at == pytest.approx(0.512)


def test_pauses_shorter_than_the_window_do_not_end_the_turn() -> None:
    detector = TurnDetector(TurnTimings(silence_seconds=0.5))
    pattern = [(True, 0.64), (False, 0.352), (True, 0.64), (False, 0.448), (True, 0.32)]
    assert feed(detector, pattern) is TurnState.SPEAKING


def test_no_speech_times_out() -> None:
    detector = TurnDetector(TurnTimings(no_speech_seconds=2.0))
    assert feed(detector, [(False, 1.984)]) is TurnState.WAITING
    assert detector.process(False, CHUNK) is TurnState.ENDED
    assert detector.end_reason is EndReason.NO_SPEECH
    assert detector.speech_started_at is None


def test_a_click_is_not_speech() -> None:
    detector = TurnDetector(TurnTimings(min_speech_seconds=0.096, no_speech_seconds=1.0))
    state = feed(detector, [(True, CHUNK), (False, 0.5), (True, 2 * CHUNK), (False, 0.5)])
    assert state is TurnState.ENDED
    assert detector.end_reason is EndReason.NO_SPEECH


def test_speech_start_is_dated_to_where_the_run_began() -> None:
    detector = TurnDetector(TurnTimings(min_speech_seconds=0.096))
    feed(detector, [(False, 0.64), (True, 0.096)])
    assert detector.state is TurnState.SPEAKING
    assert detector.speech_started_at == pytest.approx(0.64)


def test_max_length_caps_endless_speech() -> None:
    detector = TurnDetector(TurnTimings(max_seconds=3.0))
    assert feed(detector, [(True, 2.976)]) is TurnState.SPEAKING
    assert detector.process(True, CHUNK) is TurnState.ENDED
    assert detector.end_reason is EndReason.MAX_LENGTH


def test_waiting_longer_than_the_max_length_is_still_no_speech() -> None:
    detector = TurnDetector(TurnTimings(no_speech_seconds=20.0, max_seconds=3.0))
    feed(detector, [(False, 3.2)])
    assert detector.end_reason is EndReason.MAX_LENGTH


def test_an_ended_turn_stays_ended() -> None:
    detector = TurnDetector(TurnTimings(no_speech_seconds=0.1))
    feed(detector, [(False, 0.2)])
    elapsed = detector.elapsed
    assert detector.process(True, 1.0) is TurnState.ENDED
    assert detector.elapsed == elapsed
