"""The listening loop shared by both modes: mic → wake word → turn (VAD) → transport.

The transport (direct client or Home Assistant server) decides where a turn's audio goes (its
``TurnUplink``) and when the satellite is busy with an answer; this loop only listens, and
the shared ``EndOfTurnDetector`` (``wyoming_rtx.audio.endpoint``) says when the user is done.
Every decision here is made on *audio time* (seconds of microphone audio seen), so a WAV
played faster than real time gives the same detections and turn ends as a live microphone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from wyoming.info import Attribution, Info, Satellite, WakeModel, WakeProgram

from wyoming_rtx.audio.endpoint import (
    SATELLITE_FALLBACK_SECONDS,
    EndOfTurnDetector,
    EndReason,
    PreRoll,
    TurnPhase,
)
from wyoming_rtx.audio.vad import CHUNK_SECONDS, SpeechDetector

from .audio_out import Speaker
from .mic_supervisor import MicSupervisor
from .settings import SatelliteSettings
from .turn_judge import TurnJudge
from .wake import WakeDetection, WakeDetector, _model_id

_LOGGER = logging.getLogger(__name__)

FOLLOW_UP = "follow-up"
"""The detection name of a turn opened without the wake word, for a question's reply."""

__version__ = "0.1.0"
_ATTRIBUTION = Attribution(name="wyoming-rtx", url="")
"""The satellite program is ours; no canonical project URL is declared yet, so none is made up."""
WAKE_ATTRIBUTIONS: dict[str, tuple[Attribution, Attribution]] = {
    "openwakeword": (
        Attribution(
            name="David Scripka (openWakeWord)", url="https://github.com/dscripka/openWakeWord"
        ),
        Attribution(
            name="David Scripka (openWakeWord pre-trained models, CC BY-NC-SA 4.0)",
            url="https://github.com/dscripka/openWakeWord",
        ),
    ),
    "microwakeword": (
        Attribution(
            name="OHF-Voice (pymicro-wakeword)", url="https://github.com/OHF-Voice/pymicro-wakeword"
        ),
        Attribution(
            name="Kevin Ahrendt (microWakeWord models, shipped in pymicro-wakeword, Apache-2.0)",
            url="https://github.com/kahrendt/microWakeWord",
        ),
    ),
}
"""Per engine: (the engine, its bundled models). openWakeWord's pre-trained models are
CC BY-NC-SA 4.0 (non-commercial), unlike its Apache-2.0 code; the microWakeWord models'
own JSON names Kevin Ahrendt as their author."""
CUSTOM_WAKE_ATTRIBUTION = Attribution(name="your own model (author not stated)", url="")
"""A model the user pointed at by path: we cannot know who made it."""
_CUSTOM_SUFFIXES = (".tflite", ".onnx", ".json")


def wake_attributions(settings: SatelliteSettings, wake_names: list[str]) -> list[Attribution]:
    """Each listed wake word's credit: the engine's bundled models, or a model given by path."""
    _engine, bundled = WAKE_ATTRIBUTIONS.get(settings.wake.engine, (None, CUSTOM_WAKE_ATTRIBUTION))
    paths = [Path(n) for n in settings.wake.names if Path(n).suffix in _CUSTOM_SUFFIXES]
    custom = {p.stem for p in paths} | {_model_id(p) for p in paths}
    return [CUSTOM_WAKE_ATTRIBUTION if name in custom else bundled for name in wake_names]


ANSWER_HOLD_SECONDS = 3.0
"""How long the speaker stays open after the end of a turn for its answer: a local command's
answer comes within ~0.2 s, an LLM's first sentence within ~1-2 s; a later one opens the
speaker again (a device's open, or a process spawn for ``--snd-command``)."""


class TurnUplink(Protocol):
    """One turn's audio on its way to the peer: what a transport hands out per wake word.

    It only carries audio out; the answer comes back over the transport's own connection.
    """

    server_judges: bool
    """The peer said ``voice-started``: it ends this turn itself, when the utterance is
    complete; only a long fallback rule stays here (``SATELLITE_FALLBACK_SECONDS``)."""
    server_ended: bool
    """The peer said ``voice-stopped``: the turn is over now."""
    on_server_end: Callable[[], None] | None
    """Called when ``server_ended`` is set, so the turn ends without waiting for the mic."""

    async def audio(self, pcm: bytes) -> None: ...

    async def end(self, reason: EndReason) -> None:
        """Local end of speech: the peer gets ``audio-stop`` now."""
        ...


class Transport(Protocol):
    """Where turns go: the direct-mode client or the Home Assistant server."""

    @property
    def busy(self) -> bool:
        """An answer is pending or playing: the wake word is muted."""
        ...

    async def begin_turn(self, detection: WakeDetection) -> TurnUplink | None:
        """Open a turn's uplink, or None when it cannot be taken now (not connected, paused)."""
        ...

    def take_follow_up(self) -> bool:
        """True once when the last answer asked something: listen again without the wake
        word (the transport clears it as it answers)."""
        ...

    @property
    def answering(self) -> bool:
        """An answer (or a ring) is playing now: the wake word may interrupt it."""
        ...

    def interrupt(self) -> None:
        """Stop the answer playing now (barge-in)."""
        ...


class AnswerWait:
    """Whether a sent turn still waits for its answer, which keeps the wake word muted.

    Open-ended while the turn's audio is still going out, then bounded once it is sent, so
    a peer that never answers cannot leave the satellite deaf.
    """

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self._until: float | None = None

    def open(self) -> None:
        self._until = float("inf")

    def bound(self, seconds: float) -> None:
        self._until = asyncio.get_running_loop().time() + seconds

    def clear(self) -> None:
        self._until = None

    @property
    def pending(self) -> bool:
        """True while waiting; False, with a warning, the first time the bound has passed."""
        if self._until is None:
            return False
        if asyncio.get_running_loop().time() >= self._until:
            _LOGGER.warning("No answer from %s in time; listening again", self.peer)
            self._until = None
            return False
        return True


@dataclass(frozen=True)
class SatelliteEvent:
    """What the loop decided and when, on audio time (for tests, benches and logs)."""

    kind: str
    """``wake``, ``turn_started``, ``speech_started``, ``turn_ended``, ``turn_refused``."""
    audio_seconds: float
    detail: str = ""


def build_info(settings: SatelliteSettings, wake_names: list[str], phrases: list[str]) -> Info:
    """The satellite's ``info``: name, area, local VAD and the wake words it listens for.

    Wake models are listed too so Home Assistant can map a ``detection`` name to its phrase.
    """
    return Info(
        satellite=Satellite(
            name=settings.name,
            attribution=_ATTRIBUTION,
            installed=True,
            description="wyoming-rtx room satellite",
            version=__version__,
            area=settings.area,
            has_vad=True,
            active_wake_words=list(wake_names),
            max_active_wake_words=len(wake_names),
            supports_trigger=False,
        ),
        wake=[
            WakeProgram(
                name=settings.wake.engine,
                attribution=WAKE_ATTRIBUTIONS.get(settings.wake.engine, (_ATTRIBUTION,))[0],
                installed=True,
                description=f"{settings.wake.engine} (local)",
                version=__version__,
                models=[
                    WakeModel(
                        name=name,
                        attribution=attribution,
                        installed=True,
                        description=phrase,
                        version=None,
                        languages=["en"],
                        phrase=phrase,
                    )
                    for name, phrase, attribution in zip(
                        wake_names, phrases, wake_attributions(settings, wake_names), strict=True
                    )
                ],
            )
        ],
    )


class SatelliteLoop:
    """Runs the microphone through wake word and turn detection until the mic ends."""

    def __init__(
        self,
        settings: SatelliteSettings,
        mic: MicSupervisor,
        wake: WakeDetector,
        speaker: Speaker,
        transport: Transport,
        vad: SpeechDetector | None = None,
        judge: TurnJudge | None = None,
    ) -> None:
        self.settings = settings
        self.mic = mic
        self.wake = wake
        self.speaker = speaker
        self.transport = transport
        self.vad = vad or SpeechDetector(settings.vad.threshold)
        self.judge = judge
        """Smart Turn on the turn's sound, when installed (turn_judge.py); None: silence only."""
        self.events: list[SatelliteEvent] = []
        self.audio_seconds = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._rules = settings.vad.rules
        self._preroll = PreRoll(self._rules.preroll_seconds)
        self._uplink: TurnUplink | None = None
        self._end_of_turn: EndOfTurnDetector | None = None
        self._muted = False
        mic.on_outage = self._mic_lost

    def _event(self, kind: str, detail: str = "") -> None:
        self.events.append(SatelliteEvent(kind, self.audio_seconds, detail))

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Listen until the microphone ends for good (a file); a live mic never ends."""
        _LOGGER.info("Listening for %s", ", ".join(self.wake.names))
        try:
            async for pcm in self.mic.stream():
                self.audio_seconds += len(pcm) / 32000
                if self._uplink is not None:
                    await self._turn_audio(pcm)
                else:
                    await self._listen(pcm)
            if self._uplink is not None:
                await self._end_turn(EndReason.MAX_LENGTH)
            await self._drain()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        """Release the turn judge's thread (the loop has stopped)."""
        if self.judge is not None:
            self.judge.close()

    async def _drain(self) -> None:
        """A file mic ended: let the last answer arrive and play before returning."""
        # Polled: "busy" is a property of either transport, with its own deadline inside.
        for _ in range(int(self.settings.response_timeout_seconds / 0.02)):
            if not (self.transport.busy or self._tasks):
                return
            await asyncio.sleep(0.02)

    async def _listen(self, pcm: bytes) -> None:
        self._preroll.add(pcm)
        if self.speaker.holding and not self.transport.busy:
            self.speaker.release()  # no answer is coming (an error, a time-out): close it
        barge_in = self.settings.barge_in and self.transport.answering
        if (self.transport.busy or self.speaker.playing) and not barge_in:
            self._muted = True  # no self-trigger from our own sounds or a pending answer
            self.wake.skip(pcm)
            return
        if self._muted:
            self._muted = False
            self.wake.reset()
        detection: WakeDetection | None
        if barge_in:
            detection = self.wake.process(pcm)
            if detection is None:
                return
            _LOGGER.info("Wake word %s while answering: stopping the answer", detection.name)
            self._event("barge_in", detection.name)
            self.transport.interrupt()
        elif self.transport.take_follow_up():
            # The answer asked something: the reply needs no wake word. A turn without
            # speech ends after no_speech_seconds, and the server then says nothing.
            detection = WakeDetection(FOLLOW_UP, self.audio_seconds)
            _LOGGER.info("Listening for the reply (the answer asked a question)")
        else:
            detection = self.wake.process(pcm)
            if detection is None:
                return
            _LOGGER.info("Wake word: %s", detection.name)
            self._event("wake", detection.name)
        uplink = await self.transport.begin_turn(detection)
        if uplink is None:
            self._event("turn_refused", detection.name)
            return
        self._spawn(self.speaker.play_wav(self.settings.snd.awake_wav), "satellite awake sound")
        self._uplink = uplink
        uplink.on_server_end = lambda: self._spawn(
            self._end_if_current(uplink, EndReason.COMPLETE), "end of turn from the server"
        )
        self._event("turn_started", detection.name)
        self._end_of_turn = EndOfTurnDetector(self._rules)
        self.vad.reset()
        preroll = self._preroll.take()
        # The pre-roll goes to the peer and warms the VAD, but does not count as the user's
        # speech: it mostly holds the end of the wake phrase, which would otherwise "start"
        # the turn and then end it on the silence after the phrase.
        await uplink.audio(preroll)
        self.vad.process(preroll)
        if self.judge is not None:
            self.judge.start_turn()
            self.judge.feed(preroll)

    async def _turn_audio(self, pcm: bytes) -> None:
        assert self._uplink is not None and self._end_of_turn is not None
        self.wake.skip(pcm)
        uplink, detector = self._uplink, self._end_of_turn
        if uplink.server_ended:
            await self._end_turn(EndReason.COMPLETE)
            return
        await uplink.audio(pcm)
        if uplink.server_judges and detector.rules.silence_seconds < SATELLITE_FALLBACK_SECONDS:
            detector.rules = replace(detector.rules, silence_seconds=SATELLITE_FALLBACK_SECONDS)
        judge = None if uplink.server_judges else self.judge
        if judge is not None:
            judge.feed(pcm)
        for phase in detector.feed(self.vad.process(pcm), CHUNK_SECONDS):
            if phase is TurnPhase.SPEAKING:
                self._event("speech_started")
            elif phase is TurnPhase.ENDED:
                assert detector.end_reason is not None
                await self._end_turn(detector.end_reason)
                return
        if judge is not None and judge.due(detector):
            await self._judge_pause(judge, uplink, detector)

    async def _judge_pause(
        self, judge: TurnJudge, uplink: TurnUplink, detector: EndOfTurnDetector
    ) -> None:
        """Smart Turn's verdict on this pause: end the turn now, or wait longer for more.

        Awaited before the next chunk is read (the microphone queues meanwhile), so the
        verdict applies at the audio time it was asked at, as every rule here does: a WAV read
        faster than real time ends its turns where a live microphone would."""
        try:
            wait = await judge.judge(detector)
        except Exception:  # noqa: BLE001 - a failed verdict leaves the silence rule in charge
            _LOGGER.exception("Smart Turn failed on this pause: the silence rule decides")
            return
        if self._uplink is not uplink or uplink.server_judges:
            return  # the turn ended meanwhile (the server, the microphone), or the server judges
        if wait > 0:
            detector.wait(wait)
        elif detector.complete():
            await self._end_turn(EndReason.COMPLETE)

    def _mic_lost(self) -> None:
        """The microphone stopped mid-turn: end the turn now with what was heard (the peer
        answers it, or says it heard nothing). The turn's rules count audio, so otherwise it
        would wait for a microphone that may not come back."""
        uplink = self._uplink
        if uplink is not None:
            self._spawn(
                self._end_if_current(uplink, EndReason.MIC_LOST), "end of turn: microphone lost"
            )

    async def _end_if_current(self, uplink: TurnUplink, reason: EndReason) -> None:
        """End the turn of `uplink` (the server judged it complete, or the microphone went),
        if it is still the current one: it may have ended meanwhile."""
        if self._uplink is uplink:
            await self._end_turn(reason)

    async def _end_turn(self, reason: EndReason) -> None:
        uplink, self._uplink, self._end_of_turn = self._uplink, None, None
        assert uplink is not None
        _LOGGER.info("End of turn: %s", reason.value)
        self._event("turn_ended", reason.value)
        await uplink.end(reason)
        # The speaker stays open after the "done" sound, so the answer plays at once.
        done = self.speaker.play_wav(self.settings.snd.done_wav, hold=ANSWER_HOLD_SECONDS)
        self._spawn(done, "satellite done sound")
        self.wake.reset()
