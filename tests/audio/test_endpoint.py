"""The one end-of-turn detector (satellite, browser, benches), with numbers only."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wyoming_rtx.audio.endpoint import (
    BROWSER_RULES,
    HESITATION_WAIT_SECONDS,
    JUDGED_RULES,
    SATELLITE_RULES,
    UNRECOGNISED_COMMAND_WAIT_SECONDS,
    UNSURE_WAIT_SECONDS,
    EndOfTurnDetector,
    EndOfTurnRules,
    EndReason,
    PreRoll,
    TurnPhase,
    pause_wait,
    sound_only_wait,
)
from wyoming_rtx.audio.transcript_cues import asks_a_question, looks_unfinished, more_to_come

CHUNK = 0.032
"""One silero decision."""


def feed(detector: EndOfTurnDetector, pattern: list[tuple[bool, float]]) -> TurnPhase:
    """Stretches of speech/silence, chunk by chunk; the phase after the last."""
    phase = detector.phase
    for is_speech, seconds in pattern:
        for _ in range(round(seconds / CHUNK)):
            phase = detector.process(is_speech, CHUNK)
    return phase


def entered(detector: EndOfTurnDetector, decisions: list[bool]) -> list[tuple[int, TurnPhase]]:
    """Decisions fed one by one; (chunks seen, phase entered) for each phase entered."""
    found: list[tuple[int, TurnPhase]] = []
    for is_speech in decisions:
        for phase in detector.feed([is_speech], CHUNK):
            found.append((round(detector.elapsed / CHUNK), phase))
    return found


# The satellite's rules (500 ms silence).


def test_speech_then_silence_ends_the_turn_after_the_silence_window() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(silence_seconds=0.5))
    assert feed(detector, [(False, 0.32), (True, 1.6)]) is TurnPhase.SPEAKING
    assert feed(detector, [(False, 0.48)]) is TurnPhase.SPEAKING  # 15 chunks < 0.5 s
    assert detector.process(False, CHUNK) is TurnPhase.ENDED
    assert detector.end_reason is EndReason.SILENCE
    assert detector.last_speech_at == pytest.approx(1.92)
    assert detector.elapsed - detector.last_speech_at == pytest.approx(0.512)


def test_pauses_shorter_than_the_window_do_not_end_the_turn() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(silence_seconds=0.5))
    pattern = [(True, 0.64), (False, 0.352), (True, 0.64), (False, 0.448), (True, 0.32)]
    assert feed(detector, pattern) is TurnPhase.SPEAKING


def test_no_speech_times_out() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(no_speech_seconds=2.0))
    assert feed(detector, [(False, 1.984)]) is TurnPhase.WAITING
    assert detector.process(False, CHUNK) is TurnPhase.ENDED
    assert detector.end_reason is EndReason.NO_SPEECH
    assert detector.speech_started_at is None


def test_a_click_is_not_speech() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(min_speech_seconds=0.096, no_speech_seconds=1.0))
    state = feed(detector, [(True, CHUNK), (False, 0.5), (True, 2 * CHUNK), (False, 0.5)])
    assert state is TurnPhase.ENDED
    assert detector.end_reason is EndReason.NO_SPEECH


def test_speech_start_is_dated_to_where_the_run_began() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(min_speech_seconds=0.096))
    feed(detector, [(False, 0.64), (True, 0.096)])
    assert detector.phase is TurnPhase.SPEAKING
    assert detector.speech_started_at == pytest.approx(0.64)


def test_max_length_caps_endless_speech() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(max_seconds=3.0))
    assert feed(detector, [(True, 2.976)]) is TurnPhase.SPEAKING
    assert detector.process(True, CHUNK) is TurnPhase.ENDED
    assert detector.end_reason is EndReason.MAX_LENGTH


def test_the_max_length_counts_from_the_start_of_listening() -> None:
    """It bounds the whole turn, so a wait longer than it ends there, not at no-speech."""
    detector = EndOfTurnDetector(EndOfTurnRules(no_speech_seconds=20.0, max_seconds=3.0))
    feed(detector, [(False, 3.2)])
    assert detector.end_reason is EndReason.MAX_LENGTH


def test_an_ended_turn_stays_ended() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(no_speech_seconds=0.1))
    feed(detector, [(False, 0.2)])
    elapsed = detector.elapsed
    assert detector.process(True, 1.0) is TurnPhase.ENDED
    assert detector.elapsed == elapsed


# The browser's rules (700 ms silence, push-to-talk).


def test_browser_speech_then_silence_ends_the_turn() -> None:
    quiet_chunks = round(0.7 / CHUNK + 0.5)  # 22 chunks: the first at or past 700 ms
    decisions = [False] * 5 + [True] * 20 + [False] * 40
    assert entered(EndOfTurnDetector(BROWSER_RULES), decisions) == [
        (8, TurnPhase.SPEAKING),
        (25 + quiet_chunks, TurnPhase.ENDED),
    ]


def test_browser_clicks_are_not_speech_and_silence_times_out() -> None:
    decisions = ([True, True, False] * 100)[:100]
    detector = EndOfTurnDetector(replace(BROWSER_RULES, no_speech_seconds=2.0))
    assert entered(detector, decisions) == [(round(2.0 / CHUNK + 0.5), TurnPhase.ENDED)]
    assert detector.end_reason is EndReason.NO_SPEECH


def test_push_to_talk_ignores_silence_but_not_the_length_cap() -> None:
    rules = replace(BROWSER_RULES, max_seconds=3.0, end_on_silence=False)
    detector = EndOfTurnDetector(rules)
    events = entered(detector, [True] * 3 + [False] * 200)
    assert events[0] == (3, TurnPhase.SPEAKING)
    assert events[1][1] is TurnPhase.ENDED
    assert detector.end_reason is EndReason.MAX_LENGTH
    assert abs(events[1][0] * CHUNK - 3.0) <= CHUNK


def test_nothing_after_the_end() -> None:
    detector = EndOfTurnDetector(replace(BROWSER_RULES, silence_seconds=0.3))
    events = entered(detector, [True] * 3 + [False] * 30 + [True] * 30)
    assert [phase for _, phase in events] == [TurnPhase.SPEAKING, TurnPhase.ENDED]
    assert detector.ended
    assert detector.end_reason is EndReason.SILENCE
    assert detector.elapsed == pytest.approx((3 + 10) * CHUNK)  # 10 quiet chunks = 320 ms


def test_releasing_push_to_talk_ends_the_turn() -> None:
    rules = replace(BROWSER_RULES, end_on_silence=False)
    spoken = EndOfTurnDetector(rules)
    spoken.feed([True] * 5 + [False] * 50, CHUNK)
    assert spoken.phase is TurnPhase.SPEAKING
    assert spoken.release() is EndReason.RELEASED
    assert spoken.ended

    silent = EndOfTurnDetector(rules)
    silent.feed([False] * 10, CHUNK)
    assert silent.release() is EndReason.NO_SPEECH


def test_a_release_after_the_end_keeps_its_reason() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(no_speech_seconds=0.1))
    feed(detector, [(False, 0.2)])
    assert detector.release() is EndReason.NO_SPEECH


def test_a_batch_of_decisions_enters_the_same_phases_as_one_by_one() -> None:
    decisions = [False] * 5 + [True] * 20 + [False] * 40
    one_by_one = [phase for _, phase in entered(EndOfTurnDetector(BROWSER_RULES), decisions)]
    batched = EndOfTurnDetector(BROWSER_RULES)
    assert batched.feed(decisions, CHUNK) == one_by_one
    assert batched.elapsed == pytest.approx((25 + 22) * CHUNK)  # nothing counted past the end


def test_speech_starting_and_ending_on_one_decision_reports_both() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(max_seconds=0.096))
    assert detector.feed([True] * 5, CHUNK) == [TurnPhase.SPEAKING, TurnPhase.ENDED]
    assert detector.end_reason is EndReason.MAX_LENGTH


def test_no_speech_does_not_report_a_start() -> None:
    detector = EndOfTurnDetector(EndOfTurnRules(no_speech_seconds=0.5))
    assert detector.feed([False] * 20, CHUNK) == [TurnPhase.ENDED]
    assert not detector.speech_started


# Presets and pre-roll.


def test_the_presets_differ_only_where_their_reasons_say() -> None:
    assert SATELLITE_RULES == EndOfTurnRules()
    assert SATELLITE_RULES.silence_seconds == 0.5
    assert BROWSER_RULES.silence_seconds == 0.7  # as Home Assistant waits
    for rules in (SATELLITE_RULES, BROWSER_RULES):
        assert rules.min_speech_seconds == pytest.approx(3 * CHUNK)
        assert rules.max_seconds == 15.0
        assert rules.end_on_silence
    assert BROWSER_RULES.preroll_seconds > SATELLITE_RULES.preroll_seconds


def test_the_preroll_keeps_the_latest_whole_samples() -> None:
    preroll = PreRoll(0.001)  # 16 samples, 32 bytes
    assert preroll.max_bytes == 32
    preroll.add(bytes(range(20)))
    preroll.add(bytes(range(100, 120)))
    assert len(preroll) == 32
    kept = preroll.take()
    assert kept == bytes(range(8, 20)) + bytes(range(100, 120))
    assert len(preroll) == 0
    assert PreRoll(0.0).take() == b""


# The judgment at a pause (issue 19): the server ends a turn early only when it is complete.


@pytest.mark.parametrize(
    ("probability", "command", "text", "wait"),
    [
        (0.01, True, "Turn on the living room light.", 0.0),  # a command is complete
        (None, True, "Lock the front door.", 0.0),  # ... with or without the model
        (0.98, False, "What is the capital of France?", 0.0),
        (0.30, False, "What is the capital of France?", HESITATION_WAIT_SECONDS),
        (None, False, "What is the capital of France?", None),  # no model: the rules decide
        (0.97, False, "Turn on the", HESITATION_WAIT_SECONDS),  # dangling article
        (0.97, False, "Set the thermostat to", HESITATION_WAIT_SECONDS),
        (0.97, False, "Tell me a joke about the...", HESITATION_WAIT_SECONDS),
        (None, False, "and the kitchen,", HESITATION_WAIT_SECONDS),
        (0.97, False, "What is the capital of um", HESITATION_WAIT_SECONDS),  # a hesitation
        (0.9, False, "How far away is, uh", HESITATION_WAIT_SECONDS),
        # A question that stops at its verb has lost its subject ("... the moon?"), though
        # whisper writes a question mark and Smart Turn calls it complete.
        (0.98, False, "How far away is?", HESITATION_WAIT_SECONDS),
        (0.98, False, "What is?", HESITATION_WAIT_SECONDS),
        (0.98, False, "How much was?", HESITATION_WAIT_SECONDS),
        (0.98, False, "Do you know what time it is?", 0.0),  # its subject is there
        (0.98, False, "What is it?", 0.0),
        (0.98, False, "Here it is.", 0.0),
        (0.97, False, "", HESITATION_WAIT_SECONDS),
        # A command's start that is no command yet: unfinished, or a misheard name.
        (0.97, False, "Set the bedroom", UNRECOGNISED_COMMAND_WAIT_SECONDS),
        (None, False, "Turn on the green house stand.", UNRECOGNISED_COMMAND_WAIT_SECONDS),
    ],
)
def test_pause_wait(
    probability: float | None, command: bool, text: str, wait: float | None
) -> None:
    assert pause_wait(probability, command, text, "en") == wait


@pytest.mark.parametrize(
    ("probability", "wait"),
    [
        (0.99, 0.0),  # surely complete: end at the pause
        (0.9, 0.0),
        (0.89, UNSURE_WAIT_SECONDS),  # complete, but a pause mid-command scores this too
        (0.5, UNSURE_WAIT_SECONDS),
        (0.01, UNSURE_WAIT_SECONDS),  # unfinished, or a command Smart Turn misjudges
    ],
)
def test_on_the_sound_alone_only_a_sure_verdict_ends_the_turn(
    probability: float, wait: float
) -> None:
    assert sound_only_wait(probability) == wait


def test_on_the_sound_alone_a_wait_is_never_shorter_than_the_rules_silence() -> None:
    assert sound_only_wait(0.7, silence_seconds=1.5) == 1.5
    assert sound_only_wait(0.2, silence_seconds=0.5) == UNSURE_WAIT_SECONDS
    assert sound_only_wait(0.95, silence_seconds=1.5) == 0.0


def test_other_languages_are_judged_on_punctuation_and_hesitations_only() -> None:
    assert not looks_unfinished("Schalte das Licht im", "de")  # no German word list
    assert looks_unfinished("Schalte das Licht im...", "de-DE")
    assert looks_unfinished("Schalte das Licht im ähm", "de-DE")
    assert looks_unfinished("Allume la lumière de euh", "fr")
    assert pause_wait(0.9, False, "Schalte das Licht", "de") == 0.0
    # A hesitation word of another language is no hesitation here.
    assert not looks_unfinished("Turn on the light euh", "en")


def test_complete_ends_a_speaking_turn_only() -> None:
    detector = EndOfTurnDetector(JUDGED_RULES)
    assert not detector.complete()  # nothing said yet
    detector.feed([True] * 5, 0.032)
    assert detector.complete()
    assert (detector.phase, detector.end_reason) == (TurnPhase.ENDED, EndReason.COMPLETE)
    assert not detector.complete()  # already over


def test_judged_rules_wait_two_seconds_for_an_unfinished_turn() -> None:
    detector = EndOfTurnDetector(JUDGED_RULES)
    detector.feed([True] * 10, 0.032)
    assert detector.feed([False] * 60, 0.032) == []  # 1.92 s of pause: still waiting
    assert detector.feed([False] * 3, 0.032) == [TurnPhase.ENDED]
    assert detector.end_reason is EndReason.SILENCE


def test_a_judged_wait_holds_for_its_pause_only() -> None:
    detector = EndOfTurnDetector(JUDGED_RULES)
    detector.feed([True] * 10, 0.032)
    detector.feed([False] * 7, 0.032)  # 0.224 s into a pause, the judge says: wait 0.5 s
    detector.wait(0.5)
    assert detector.feed([True] * 3, 0.032) == []  # speech resumed: back to the 2 s rule
    assert detector.feed([False] * 20, 0.032) == []  # 0.64 s: the 0.5 s wait is gone
    detector.wait(0.5)
    assert detector.feed([False], 0.032) == [TurnPhase.ENDED]  # already past it


def test_more_to_come_is_what_the_judgment_waits_on() -> None:
    """What a draft answer is not started on (pipeline/answer_run.py): the texts pause_wait
    waits on, and nothing else."""
    for text in ("What is the capital of", "Turn on the", "Set the bedroom", "I was thinking,"):
        assert more_to_come(text), text
        assert pause_wait(0.99, False, text) != 0.0, text
    for text in ("What is the capital of France?", "Tell me a joke."):
        assert not more_to_come(text), text
    assert not more_to_come("Turn on the", "de"), "the command verbs are English ones"


@pytest.mark.parametrize(
    ("text", "language", "question"),
    [
        ("What is the capital of France?", "en", True),
        ("who painted the Momo Lisa.", "en", True),  # whisper dropped the question mark
        ("Is the sky blue", "en", True),
        ("How do I boil an egg?", None, True),
        ("Wie spät ist es?", "de", True),  # other languages: the question mark only
        ("Wer hat das gemalt", "de", False),
        ("Pern on the kitchen light.", "en", False),  # a misheard command
        ("Luck, the Mudroom Door.", "en", False),
        ("Tell me a joke.", "en", False),
        ("", "en", False),
    ],
)
def test_asks_a_question(text: str, language: str | None, question: bool) -> None:
    """Which second decode a rejected fast text gets (asr/command_window.py)."""
    assert asks_a_question(text, language) is question
