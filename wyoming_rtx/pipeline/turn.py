"""Direct satellite turns: speech in, answer audio out, with the latency budget in mind.

The clock users feel runs from the end of their speech to the first sound of the
answer. So: audio is fed to an `AsrStream` while it is spoken (it decodes during the
trailing silence); a local command is answered by the intents in milliseconds and never
waits for an LLM; an LLM answer is cut into sentences as its tokens stream and each
sentence is synthesized and sent while the LLM keeps generating. Engines are shared
and already loaded; a turn only creates tasks. A new turn or a vanished satellite
cancels the old turn (LLM stream closed, synthesis stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..audio.endpoint import JUDGED_RULES, UNJUDGED_RULES, EndReason
from ..handle import Answer, HandleRequest
from .answer_run import AnswerRun, DraftSlot
from .arbiter import WakeArbiter
from .bell import TimerBell
from .trace import TraceLog, TurnTrace
from .turn_end import TurnEnd

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine, AsrStream
    from ..audio.turn_model import TurnModel
    from ..handle import Assistant
    from ..tts.engine import TtsEngine

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SatelliteIdentity:
    """Who is speaking: the satellite's name and the area that scopes its commands."""

    name: str
    area: str | None = None


@dataclass
class SatelliteStatus:
    """What the status page shows for a connected satellite."""

    name: str
    area: str | None
    peer: str
    state: str = "idle"
    """idle | listening | thinking | speaking"""
    last_seen: float = field(default_factory=time.time)


class TurnOutput(Protocol):
    """Where one turn's results go (a Wyoming satellite, or a browser WebSocket)."""

    async def send_transcript(self, text: str) -> None:
        """The final transcript."""

    async def send_answer(self, answer: Answer) -> None:
        """The final answer text (handled or not)."""

    async def send_audio_start(self, rate: int, width: int, channels: int) -> None:
        """Answer audio begins, in this format."""

    async def send_audio(self, pcm: bytes) -> None:
        """A piece of answer audio."""

    async def send_audio_stop(self) -> None:
        """Answer audio ends."""

    async def send_speech_started(self) -> None:
        """The server heard the user start speaking (it will end the turn itself)."""

    async def send_end_of_speech(self, reason: EndReason) -> None:
        """The server ended the user's turn: the client stops sending audio."""


class Pipeline:
    """Shared by every satellite: the engines, the traces and who is connected."""

    def __init__(
        self,
        asr: AsrEngine,
        tts: TtsEngine,
        assistant: Assistant,
        traces: TraceLog | None = None,
        language: str | None = None,
        bell: TimerBell | None = None,
        end_of_turn: str = "satellite",
        turn_model: TurnModel | None = None,
    ) -> None:
        """end_of_turn: ``smart``, the server ends each turn when the utterance is complete
        (``turn_end.py``, with ``turn_model`` when installed); ``satellite``, the client's own
        silence rule ends it."""
        self.asr = asr
        self.tts = tts
        self.assistant = assistant
        self.traces = traces or TraceLog()
        self.language = language
        self.end_of_turn = end_of_turn
        self.turn_model = turn_model
        self.satellites: dict[str, SatelliteStatus] = {}
        self.bell = bell or TimerBell()
        """Connected direct satellites register here; their timers ring through it."""
        self.bell.tts = tts
        self.arbiter = WakeArbiter()
        """One answer when several satellites hear one wake word."""

    def open_turn(
        self,
        who: SatelliteIdentity,
        output: TurnOutput,
        speak: bool = True,
        entry: str = "satellite",
    ) -> PipelineTurn:
        """Start a turn; audio is fed as it arrives, end_of_speech() sets it going.

        entry: how the turn arrived (satellite | browser), as the status page and metrics
        show it."""
        turn = PipelineTurn(self, who, output, speak, entry)
        turn.start()
        return turn

    def set_state(self, who: SatelliteIdentity, state: str) -> None:
        """Update the status page's view of a satellite (if it is registered)."""
        status = self.satellites.get(who.name)
        if status is not None:
            status.state = state
            status.last_seen = time.time()


class PipelineTurn:
    """One spoken turn that this server runs end to end (speech in, answer audio out), as a
    task that the owner can cancel at any point. `Pipeline.open_turn` builds and starts it."""

    def __init__(
        self,
        pipeline: Pipeline,
        who: SatelliteIdentity,
        output: TurnOutput,
        speak: bool,
        entry: str = "satellite",
    ) -> None:
        self._pipeline = pipeline
        self._who = who
        self._output = output
        self._speak = speak
        self.trace: TurnTrace = pipeline.traces.start(who.name, who.area, entry=entry)
        self._draft = DraftSlot(
            pipeline.assistant,
            pipeline.tts,
            HandleRequest(
                text="",
                conversation_id=f"satellite-{who.name}",
                language=pipeline.language,
                area=who.area,
                satellite_id=who.name,
            ),
            self.trace,
        )
        """The answer started on a pause's transcript, before the turn was over."""
        self._turn_end: TurnEnd | None = None
        if pipeline.end_of_turn == "smart":
            model = pipeline.turn_model
            self._turn_end = TurnEnd(
                JUDGED_RULES if model is not None else UNJUDGED_RULES,
                model,
                self._is_local_command,
                self._speech_heard,
                self._server_ended,
                pipeline.language,
                audio=lambda: self._stream.audio(),
                on_resume=lambda: self._draft.drop("speech resumed"),
                on_text=self._draft.offer if speak else None,
                answer_audible=self._draft.audible if speak else None,
            )
        self._stream: AsrStream = pipeline.asr.stream(
            pipeline.language,
            accept=self._heard,
            listener=self._turn_end,
        )
        self._speech_ended = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._notices: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stage = "asr"
        """The request in progress, which an error or a cancel is charged to."""

    def start(self) -> None:
        """Run the turn: it waits for the end of speech, then answers."""
        self._task = asyncio.create_task(self._run(), name=f"turn {self.trace.turn_id}")
        self._pipeline.set_state(self._who, "listening")

    def _is_local_command(self, text: str) -> bool:
        return self._pipeline.assistant.handles_locally(text, self._who.area, self._who.name)

    def _heard(self, text: str) -> bool:
        """The command window's test of a decode's fast text, which the end-of-turn judge
        also hears (it need not wait for the second decode when the text is no command)."""
        command = self._is_local_command(text)
        if self._turn_end is not None:
            self._turn_end.heard(text, command)
        in_turn = self._turn_end is None or self._turn_end.in_pause or self._speech_ended.is_set()
        if not command and self._speak and in_turn:
            self._draft.offer(text)
        return command

    def feed(self, pcm: bytes) -> None:
        """16 kHz s16le mono audio as it is spoken."""
        if self._speech_ended.is_set():
            return
        self.trace.mark("audio_start")
        self._stream.feed(pcm)

    def end_of_speech(self) -> None:
        """The satellite (or the server's VAD) decided the user stopped speaking."""
        if not self._speech_ended.is_set():
            self.trace.mark("end_of_speech")
            self.trace.end_of_turn = self.trace.end_of_turn or "client"
            self._speech_ended.set()
            if self._turn_end is not None:
                self._turn_end.close()

    def _speech_heard(self) -> None:
        """The server's end-of-turn rules heard speech start: the client may rely on them."""
        task = asyncio.get_running_loop().create_task(
            self._output.send_speech_started(), name="voice started"
        )
        self._notices.add(task)
        task.add_done_callback(self._notice_sent)

    def _notice_sent(self, task: asyncio.Task[None]) -> None:
        self._notices.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.debug("Could not tell the client: %r", task.exception())

    def _server_ended(self, reason: EndReason) -> None:
        """The server's own rules ended the turn (judged complete, or a silence limit)."""
        if self._speech_ended.is_set():
            return
        if reason is EndReason.NO_SPEECH:
            return  # the satellite's own no-speech rule ends it, and the answer is nothing
        self.trace.end_of_turn = reason.value
        _LOGGER.debug("Turn %d ended by the server: %s", self.trace.turn_id, reason.value)
        self.end_of_speech()

    def hold(self) -> None:
        """Do not answer yet, even once speech has ended (the wake-word arbiter decides
        whether this satellite answers at all)."""
        self._released.clear()

    def release(self) -> None:
        """Answer once speech has ended (the arbiter chose this satellite)."""
        self._released.set()

    def played(self) -> None:
        """The satellite finished playing the answer."""
        self.trace.mark("played")
        self._pipeline.set_state(self._who, "idle")

    @property
    def done(self) -> bool:
        """True once the answer has been sent (or the turn failed or was cancelled)."""
        return self._task is None or self._task.done()

    async def wait(self) -> TurnTrace:
        """Wait for the turn to finish; returns its trace (errors are in the trace)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        return self.trace

    def cancel(self) -> None:
        """Stop everything this turn is doing (LLM stream, synthesis, decoding)."""
        if self._turn_end is not None:
            self._turn_end.close()
        for notice in list(self._notices):
            notice.cancel()
        self._draft.drop("the turn was cancelled")
        self._stream.cancel()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        outcome, error = "done", None
        traces = self._pipeline.traces
        try:
            await self._speech_ended.wait()
            await self._released.wait()
            if self.trace.end_of_turn not in ("", "client"):
                await self._output.send_end_of_speech(EndReason(self.trace.end_of_turn))
            self._pipeline.set_state(self._who, "thinking")
            text = (await self._stream.finish()).strip()
            self.trace.mark("transcript")
            self.trace.transcript = text
            traces.request_done(self.trace, "asr")
            await self._output.send_transcript(text)
            if self._speak and not text:
                self._draft.drop("no speech")
                await self._answer_nothing()
            elif self._speak:
                self._stage = "handle"
                await self._answer(text)
        except asyncio.CancelledError:
            outcome = "cancelled"
            if "end_of_speech" in self.trace.marks:
                traces.request_done(self.trace, self._stage, "cancelled")
            raise
        except Exception as err:
            outcome, error = "error", f"{err.__class__.__name__}: {err}"
            traces.request_done(self.trace, self._stage, "error")
            _LOGGER.exception("Turn %d failed", self.trace.turn_id)
        finally:
            self._draft.drop("the turn is over")
            if "played" not in self.trace.marks:
                self._pipeline.set_state(self._who, "idle" if outcome != "done" else "speaking")
            traces.finish(self.trace, outcome, error)

    async def _answer_nothing(self) -> None:
        """No speech after the wake word (a false wake, a cough): say nothing, but end the
        satellite's wait with an empty answer and an empty audio stream."""
        answer = Answer("", False, "none", None, f"satellite-{self._who.name}")
        self.trace.answer, self.trace.source, self.trace.handled = "", "none", False
        await self._output.send_answer(answer)
        voice = self._pipeline.tts.default_voice
        await self._output.send_audio_start(voice.sample_rate, 2, 1)
        await self._output.send_audio_stop()

    async def _answer(self, text: str) -> None:
        """Handle the text (or adopt the draft that already did); speak each sentence as
        soon as it is complete."""
        run = self._draft.take(text)
        speaker = asyncio.create_task(self._speak_sentences(run), name="turn speaker")
        try:
            await run.first_text.wait()
            self.trace.mark("answer_text")
            answer = await run.answer
            self.trace.answer, self.trace.source = answer.text, answer.source
            self.trace.handled = answer.handled
            self.trace.conversation_id = answer.conversation_id
            self._pipeline.traces.request_done(self.trace, "handle")
            self._stage = "tts"
            await self._output.send_answer(answer)
            await speaker
        finally:
            # Whatever ended the answer (client gone, cancelled), the speaker's own outcome
            # is collected here so no task error is left unretrieved.
            run.cancel()
            speaker.cancel()
            await asyncio.gather(speaker, return_exceptions=True)
        # Last, after `handled`: a satellite may take `audio-stop` as the end of the answer,
        # and when all the audio was ready early (a draft rendered in the pause, a fast GPU)
        # the speaker used to send it before the answer's text and continue_conversation.
        await self._output.send_audio_stop()
        self.trace.mark("last_audio")
        self._pipeline.traces.request_done(self.trace, "tts")

    async def _speak_sentences(self, run: AnswerRun) -> None:
        """Speak each sentence as it comes (`audio-start` and chunks; `_answer` stops it)."""
        tts = self._pipeline.tts
        started = False
        first = True
        while (sentence := await run.sentences.get()) is not None:
            speech = run.speech(sentence, first)
            first = False
            async with contextlib.aclosing(speech) as audio:
                async for piece in audio:
                    if not started:
                        await self._output.send_audio_start(piece.rate, piece.width, piece.channels)
                        started = True
                        self._pipeline.set_state(self._who, "speaking")
                    await self._output.send_audio(piece.pcm)
                    self.trace.mark("first_audio")
        if not started:
            voice = tts.default_voice
            await self._output.send_audio_start(voice.sample_rate, 2, 1)
