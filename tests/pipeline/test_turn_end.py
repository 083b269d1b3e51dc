"""The server's end-of-turn judge (pipeline/turn_end.py) on scripted VAD decisions and decodes:
when a judged turn may end, which judgments go stale, and when Smart Turn is asked."""

from __future__ import annotations

import asyncio

from wyoming_rtx.asr.engine import Decoded
from wyoming_rtx.audio.endpoint import (
    END_PAUSE_SECONDS,
    JUDGED_RULES,
    UNJUDGED_RULES,
    EndOfTurnRules,
    EndReason,
)
from wyoming_rtx.audio.vad import CHUNK_SECONDS
from wyoming_rtx.pipeline.turn_end import ANSWER_LISTEN_SECONDS, TurnEnd

SPEECH, SILENCE = 0.9, 0.05
COMMANDS = {"turn on the kitchen light."}


class FakeModel:
    """Smart Turn's stand-in: a fixed verdict, and the audio it was asked about."""

    def __init__(self, probability: float) -> None:
        self.value = probability
        self.scored: list[int] = []

    def probability(self, pcm: bytes) -> float:
        self.scored.append(len(pcm))
        return self.value


class Judge:
    def __init__(
        self,
        model: FakeModel | None,
        rules: EndOfTurnRules = JUDGED_RULES,
        drafts: dict[str, asyncio.Event] | None = None,
    ) -> None:
        """drafts: the answers being drafted, by transcript, and whether each could be heard."""
        self.ended: list[EndReason] = []
        self.resumed: list[float] = []
        self.texts: list[str] = []
        """What a draft answer would be offered: each pause's non-command transcript."""
        self.speech = 0
        self.fed = 0.0
        self.turn = TurnEnd(
            rules,
            model,  # type: ignore[arg-type]
            lambda text: text.lower() in COMMANDS,
            self._speech,
            self.ended.append,
            "en",
            audio=lambda: bytes(int(self.fed * 16000) * 2),
            on_resume=lambda: self.resumed.append(self.fed),
            on_text=self.texts.append,
            answer_audible=None if drafts is None else drafts.get,
        )

    def _speech(self) -> None:
        self.speech += 1

    async def chunks(self, probability: float, seconds: float) -> None:
        for _ in range(round(seconds / CHUNK_SECONDS)):
            self.turn.observe(probability)
            self.fed += CHUNK_SECONDS
            await asyncio.sleep(0)  # let judgments run between chunks, as audio arrives

    def pause(self, text: str | None) -> asyncio.Future[Decoded]:
        """The stream's decode of this pause; `text` None: still running."""
        decode: asyncio.Future[Decoded] = asyncio.get_running_loop().create_future()
        if text is not None:
            decode.set_result(Decoded(text, self.fed, 0.1))
        self.turn.pause(b"", decode)  # type: ignore[arg-type]
        return decode


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_command_ends_the_turn_no_sooner_than_the_end_pause() -> None:
    judge = Judge(FakeModel(0.0))
    await judge.chunks(SPEECH, 1.0)
    assert judge.speech == 1
    await judge.chunks(SILENCE, 0.096)  # past DECODE_PAUSE_SECONDS: the stream decodes
    judge.pause("Turn on the kitchen light.")
    await settle()
    assert judge.ended == []  # judged complete, but only 0.1 s into the pause
    await judge.chunks(SILENCE, 0.128)  # 0.224 s into the pause
    assert judge.ended == [EndReason.COMPLETE]
    assert judge.turn.judgments == [(None, True, 0.0)]  # a command never asks the model


async def test_speech_after_the_pause_makes_its_judgment_stale() -> None:
    judge = Judge(FakeModel(0.99))
    await judge.chunks(SPEECH, 0.8)
    await judge.chunks(SILENCE, 0.128)
    decode = judge.pause(None)  # decoding "turn on the kitchen" ...
    await judge.chunks(SPEECH, 0.5)  # ... while the speaker goes on
    decode.set_result(Decoded("Turn on the kitchen light.", 0.9, 0.1))
    await settle()
    await judge.chunks(SILENCE, 0.5)
    assert judge.ended == []  # the stale verdict did not end the longer turn


async def test_smart_turn_scores_the_pause_itself() -> None:
    model = FakeModel(0.9)
    judge = Judge(model)
    await judge.chunks(SPEECH, 1.5)
    await judge.chunks(SILENCE, 0.096)
    judge.pause("What is the capital of France?")
    await settle()
    assert model.scored == [] and judge.ended == []  # the model waits for a 0.2 s pause
    await judge.chunks(SILENCE, 0.128)
    await settle()
    assert judge.ended == [EndReason.COMPLETE]
    # Scored once, on the audio including at least END_PAUSE_SECONDS of the pause.
    assert len(model.scored) == 1
    assert model.scored[0] >= int((1.5 + END_PAUSE_SECONDS) * 16000) * 2


async def test_only_the_second_decode_ends_a_turn_whose_fast_text_is_no_command() -> None:
    # The command window hears "Set the piano lamp to ... forty percent" as a complete
    # sentence; the second (unbiased) decode's text reads cut off. Ending on the fast text
    # cut the turn.
    model = FakeModel(0.9)
    judge = Judge(model)
    await judge.chunks(SPEECH, 1.5)
    await judge.chunks(SILENCE, 0.224)
    decode = judge.pause(None)  # the second decode is still running
    judge.turn.heard("Set the Piano Lamp, too.", command=False)
    await settle()
    await judge.chunks(SILENCE, 0.2)
    assert judge.ended == [] and model.scored == []  # Smart Turn is not run beside the decode
    decode.set_result(Decoded("Set the pin on the lamp to...", judge.fed, 0.3))
    await settle()
    await judge.chunks(SILENCE, 1.0)
    assert judge.ended == []  # it reads cut off: 2 s for the rest


async def test_a_question_ends_once_its_second_text_is_judged_complete() -> None:
    model = FakeModel(0.9)
    judge = Judge(model)
    await judge.chunks(SPEECH, 1.5)
    await judge.chunks(SILENCE, 0.224)
    decode = judge.pause(None)
    judge.turn.heard("What is the capital of France?", command=False)
    await settle()
    assert judge.ended == []
    decode.set_result(Decoded("What is the capital of France?", judge.fed, 0.3))
    await settle()
    assert judge.ended == [EndReason.COMPLETE] and len(model.scored) == 1


async def test_a_fast_text_that_reads_cut_off_holds_against_a_complete_second_text() -> None:
    # bench/end_of_turn.py's hesitation_03, "Lock the ... <pause> ...": the fast decode heard
    # "Black, The" (cut off), the second "Block that." (complete, Smart Turn 0.98), and ending
    # on the second text cut the speaker off in the pause. Either hearing of more to come holds.
    model = FakeModel(0.98)
    judge = Judge(model)
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.096)
    decode = judge.pause(None)
    judge.turn.heard("Black, The", command=False)
    await settle()
    await judge.chunks(SILENCE, 0.2)
    decode.set_result(Decoded("Block that.", judge.fed, 0.3))
    await settle()
    await judge.chunks(SILENCE, 1.0)
    assert judge.ended == [] and len(model.scored) == 1  # judged, and waiting for the rest
    await judge.chunks(SILENCE, 0.8)
    assert judge.ended == [EndReason.SILENCE]  # 2 s after the pause began, nothing more came


async def test_a_command_in_the_second_text_ends_the_turn_whatever_the_fast_text_heard() -> None:
    judge = Judge(FakeModel(0.0))
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.096)
    decode = judge.pause(None)
    judge.turn.heard("Pern on the", command=False)
    await settle()
    await judge.chunks(SILENCE, 0.128)
    decode.set_result(Decoded("Turn on the kitchen light.", judge.fed, 0.3))
    await settle()
    assert judge.ended == [EndReason.COMPLETE]


async def test_a_fast_text_that_reads_cut_off_makes_the_turn_wait_at_once() -> None:
    # Without the model the rules' own silence is 0.7 s; the fast text "Turn on the" asks
    # for 2 s before the second decode has said anything.
    judge = Judge(None, UNJUDGED_RULES)
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.096)
    judge.pause(None)  # the second decode never comes back in time
    judge.turn.heard("Turn on the", command=False)
    await settle()
    await judge.chunks(SILENCE, 1.2)
    assert judge.ended == []
    await judge.chunks(SILENCE, 0.8)
    assert judge.ended == [EndReason.SILENCE]


async def test_unfinished_text_waits_and_the_model_may_say_wait() -> None:
    judge = Judge(FakeModel(0.2))
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.224)
    judge.pause("Tell me about the")
    await settle()
    await judge.chunks(SILENCE, 1.5)
    assert judge.ended == []  # a cut-off text waits 2 s
    await judge.chunks(SILENCE, 0.3)
    assert judge.ended == [EndReason.SILENCE]


async def test_without_the_model_a_question_ends_on_the_rules_silence() -> None:
    judge = Judge(None, UNJUDGED_RULES)
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.224)
    judge.pause("What is the capital of France?")
    await settle()
    assert judge.ended == []
    await judge.chunks(SILENCE, 0.5)
    assert judge.ended == [EndReason.SILENCE]  # 0.7 s, Home Assistant's window


async def test_a_pause_transcript_is_offered_and_a_resumption_reported() -> None:
    """What the turn drafts an LLM answer on (a pause's transcript that is no command), and
    when it must drop it (speech resumed)."""
    judge = Judge(FakeModel(0.0))
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.096)
    judge.pause("What is the capital of")
    await settle()
    assert judge.texts == ["What is the capital of"] and judge.resumed == []
    await judge.chunks(SPEECH, 0.5)
    assert len(judge.resumed) == 1, "speech after the pause makes its draft stale"
    await judge.chunks(SILENCE, 0.096)
    stale = judge.pause(None)  # a decode still running when speech resumes is not offered
    await judge.chunks(SPEECH, 0.2)
    stale.set_result(Decoded("What is", judge.fed, 0.1))
    await settle()
    assert judge.texts == ["What is the capital of"] and len(judge.resumed) == 2
    await judge.chunks(SILENCE, 0.096)
    judge.pause("Turn on the kitchen light.")
    await settle()
    assert judge.texts == ["What is the capital of"], "a command is not drafted"


async def paused_on(text: str, audible: asyncio.Event, probability: float = 0.97) -> Judge:
    """A judge 0.224 s into the pause after 1 s of speech, whose decode heard `text`, with an
    answer being drafted for `text` that could be heard once `audible` is set."""
    judge = Judge(FakeModel(probability), drafts={text: audible})
    await judge.chunks(SPEECH, 1.0)
    await judge.chunks(SILENCE, 0.224)
    judge.pause(text)
    return judge


async def test_a_complete_question_listens_on_until_its_answer_could_be_heard() -> None:
    """The draft's first sentence is not ready 0.2 s into the pause: the turn listens on, and
    ends the moment it is."""
    audible = asyncio.Event()
    judge = await paused_on("Up our ways.", audible)
    await settle()
    await judge.chunks(SILENCE, 0.256)
    assert judge.ended == [] and judge.turn.judgments == []  # judged once the answer is ready
    audible.set()
    await settle()
    assert judge.ended == [EndReason.COMPLETE]
    assert judge.turn.judgments == [(0.97, False, 0.0)]


async def test_a_command_never_waits_for_an_answer() -> None:
    judge = await paused_on("Turn on the kitchen light.", asyncio.Event())
    await settle()
    assert judge.ended == [EndReason.COMPLETE]


async def test_a_speaker_who_goes_on_while_the_answer_is_drafted_is_not_cut_off() -> None:
    """hesitation_15, "How far away is ... the moon?": the pause's text "Up our ways." reads
    complete (Smart Turn 0.97); the speaker goes on 0.7 s into the pause."""
    audible = asyncio.Event()
    judge = await paused_on("Up our ways.", audible)
    await judge.chunks(SILENCE, 0.48)
    assert judge.ended == []
    await judge.chunks(SPEECH, 0.5)  # "... the moon?"
    audible.set()  # the stale draft's audio: the turn has moved on
    await settle()
    assert judge.ended == [] and len(judge.resumed) == 1
    await judge.chunks(SILENCE, 0.224)
    judge.pause("How far away is the moon?")
    await settle()
    assert judge.ended == [EndReason.COMPLETE]  # no draft for this text: ends at once


async def test_listening_for_the_answer_is_bounded() -> None:
    judge = await paused_on("What is the capital of France?", asyncio.Event(), 0.9)
    await settle()
    await judge.chunks(SILENCE, ANSWER_LISTEN_SECONDS - 0.224 - 0.064)
    assert judge.ended == []
    await judge.chunks(SILENCE, 0.128)
    await settle()
    assert judge.ended == [EndReason.COMPLETE]  # well before the rules' 2 s of silence
