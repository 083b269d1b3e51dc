"""The Wyoming side of a direct satellite: its events in, its turn's results out.

A satellite keeps one connection for many turns: `info` (its name and area), then per
turn `run-pipeline{start_stage: asr, end_stage: tts}`, `audio-start`, `audio-chunk`*,
`voice-stopped`/`audio-stop` at its local end of speech; it gets `voice-started` and
`voice-stopped` when the server ends the turn itself (turn_end.py), `transcript`,
`handled`/`not-handled`, the answer audio, and replies `played`. Events that are not
part of a turn (describe, ping, plain STT/TTS requests) stay with the dispatcher.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Info
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.vad import VoiceStarted, VoiceStopped

from ..audio.convert import PcmConverter, audio_chunks
from ..audio.endpoint import EndReason
from ..errors import RtxError
from .turn import Pipeline, PipelineTurn, SatelliteIdentity, SatelliteStatus

if TYPE_CHECKING:
    from ..handle import Answer
    from ..protocol.connection import Connection

_LOGGER = logging.getLogger(__name__)

_TURN_EVENTS = {"run-pipeline", "played", "voice-started", "voice-stopped"}
_AUDIO_EVENTS = {"audio-start", "audio-chunk", "audio-stop"}


def _host(peer: str) -> str:
    """``host`` of a ``host:port`` peer (IPv6 hosts keep their colons)."""
    return peer.rpartition(":")[0] or peer


def unique_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``... when that is taken (as the browser does)."""
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}-{n}", n + 1
    return name


class WyomingTurnOutput:
    """Sends a turn's results to the satellite as Wyoming events."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._format = (22050, 2, 1)

    async def send_transcript(self, text: str) -> None:
        await self._connection.write_event(Transcript(text=text).event())

    async def send_answer(self, answer: Answer) -> None:
        # continue_conversation: the answer asks something, so the satellite listens again
        # for the reply without its wake word (as Home Assistant's satellites do).
        context = {
            "conversation_id": answer.conversation_id,
            "continue_conversation": answer.asks_back,
        }
        event = (
            Handled(text=answer.text, context=context)
            if answer.handled
            else NotHandled(text=answer.text, context=context)
        )
        await self._connection.write_event(event.event())

    async def send_audio_start(self, rate: int, width: int, channels: int) -> None:
        self._format = (rate, width, channels)
        await self._connection.write_event(
            AudioStart(rate=rate, width=width, channels=channels).event()
        )

    async def send_audio(self, pcm: bytes) -> None:
        for chunk in audio_chunks(*self._format, pcm):
            await self._connection.write_event(chunk.event())

    async def send_audio_stop(self) -> None:
        await self._connection.write_event(AudioStop().event())

    async def send_speech_started(self) -> None:
        # As Home Assistant tells its satellites at its own VAD's start of speech.
        await self._connection.write_event(VoiceStarted().event())

    async def send_end_of_speech(self, reason: EndReason) -> None:
        # As Home Assistant does at its end of speech: the satellite stops streaming.
        await self._connection.write_event(VoiceStopped().event())


class SatelliteSessions:
    """Factory the dispatcher uses: does this event start a satellite session?"""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def opens(self, event: Event) -> bool:
        """A satellite announces itself with `info` (satellite section) or `run-pipeline`."""
        if event.type == "run-pipeline":
            return True
        return event.type == "info" and isinstance(event.data.get("satellite"), dict)

    def __call__(self, connection: Connection) -> SatelliteSession:
        return SatelliteSession(self.pipeline, connection)


class SatelliteSession:
    """One satellite connection: identity, the turn in progress, its audio format."""

    def __init__(self, pipeline: Pipeline, connection: Connection) -> None:
        self._pipeline = pipeline
        self._connection = connection
        self.identity = SatelliteIdentity(name=connection.peer)
        self._status: SatelliteStatus | None = None
        self._turn: PipelineTurn | None = None
        self._receiving_audio = False
        self._converter: PcmConverter | None = None
        self._energy, self._samples = 0.0, 0
        self._released = True
        """False from a turn's start until the wake-word arbiter lets it act."""
        self._speech_ended_early = False
        """The satellite ended its speech before the arbiter decided: release() passes it on."""

    @property
    def area(self) -> str | None:
        """The area it announced: announcements can be sent to an area."""
        return self.identity.area

    @property
    def idle(self) -> bool:
        """No turn in progress: a timer's ring may use the audio stream."""
        return self._turn is None or self._turn.done

    async def send(self, event: Event) -> None:
        """One event to the satellite outside a turn (a timer's events and ring)."""
        await self._connection.write_event(event)

    def wants(self, event: Event) -> bool:
        """Turn events, satellite info, and the turn's audio stream up to its audio-stop."""
        if event.type in _TURN_EVENTS or event.type == "info":
            return True
        return event.type in _AUDIO_EVENTS and self._receiving_audio

    async def handle_event(self, event: Event) -> None:
        kind = event.type
        if kind == "info":
            self._on_info(Info.from_event(event))
        elif RunPipeline.is_type(kind):
            self._on_run_pipeline(RunPipeline.from_event(event))
        elif AudioStart.is_type(kind):
            start = AudioStart.from_event(event)
            self._converter = PcmConverter(start.rate, start.width, start.channels)
        elif AudioChunk.is_type(kind):
            self._on_audio(AudioChunk.from_event(event))
        elif kind == "voice-stopped":
            self._end_of_speech()
        elif AudioStop.is_type(kind):
            # The stream ends here, even when voice-stopped already ended the speech: the
            # satellite's audio-stop (and any chunk in between) belongs to this turn, and
            # must not reach the plain speech-to-text service as a stray request.
            self._receiving_audio = False
            self._end_of_speech()
        elif kind == "played" and self._turn is not None:
            self._turn.played()

    def _on_info(self, info: Info) -> None:
        satellite = info.satellite
        if satellite is None:
            return
        wanted = satellite.name or self._connection.peer
        taken = set(self._pipeline.satellites) - self._own_names()
        previous = self._pipeline.satellites.get(wanted)
        if (
            previous is not None
            and wanted in taken
            and _host(previous.peer) == _host(self._connection.peer)
        ):
            # The same host again under the same name: a satellite reconnecting before the
            # server noticed its old link die (a Wi-Fi drop). It keeps its name, and with it
            # its conversation; the old session's close leaves the new entry alone.
            _LOGGER.info(
                "Satellite %s reconnected from %s (was %s)",
                wanted,
                self._connection.peer,
                previous.peer,
            )
            taken.discard(wanted)
        name = unique_name(wanted, taken)
        self._unregister()
        self.identity = SatelliteIdentity(name=name, area=satellite.area)
        self._status = SatelliteStatus(name=name, area=satellite.area, peer=self._connection.peer)
        self._pipeline.satellites[name] = self._status
        self._pipeline.bell.links[name] = self
        if name != wanted:
            # The name keys the LLM conversation, the status page and the turns' traces: two
            # rooms under one name would answer each other's follow-ups.
            _LOGGER.warning(
                "Satellite %s (area %s) connected from %s, but a satellite of that name is "
                "already connected: this one is %s (give each satellite its own --name)",
                wanted,
                satellite.area or "-",
                self._connection.peer,
                name,
            )
            return
        _LOGGER.info(
            "Satellite %s (area %s) connected from %s",
            name,
            satellite.area or "-",
            self._connection.peer,
        )

    def _own_names(self) -> set[str]:
        """The name this session registered (a repeated ``info`` may keep it)."""
        registered = self._status is not None
        return {self.identity.name} if registered else set()

    def _unregister(self) -> None:
        """Forget this session's entry, and only its own (a newer one may share the name)."""
        status, self._status = self._status, None
        if status is not None and self._pipeline.satellites.get(status.name) is status:
            del self._pipeline.satellites[status.name]
        if status is not None and self._pipeline.bell.links.get(status.name) is self:
            del self._pipeline.bell.links[status.name]

    def _on_run_pipeline(self, request: RunPipeline) -> None:
        if request.start_stage != PipelineStage.ASR:
            raise RtxError(
                f"run-pipeline must start at asr (wake words are detected on the satellite), "
                f"not {request.start_stage.value}",
                code="bad-pipeline",
            )
        if self._turn is not None and not self._turn.done:
            _LOGGER.info(
                "Satellite %s started a new turn: cancelling the old one", self.identity.name
            )
            self._turn.cancel()
        # A wake word while a timer rings: it was heard, the ring stops and the turn runs.
        self._pipeline.bell.silence(self.identity.name)
        speak = request.end_stage in (PipelineStage.HANDLE, PipelineStage.TTS)
        self._turn = self._pipeline.open_turn(
            self.identity, WyomingTurnOutput(self._connection), speak=speak
        )
        self._energy, self._samples, self._speech_ended_early = 0.0, 0, False
        # Alone on the server, nobody else can have heard it: no arbitration, no wait.
        self._released = len(self._pipeline.bell.links) < 2
        if not self._released:
            self._turn.hold()  # the server's own end of turn must wait for the arbiter too
            self._pipeline.arbiter.join(self)
        self._receiving_audio = True
        self._converter = None

    def _on_audio(self, chunk: AudioChunk) -> None:
        if self._turn is None:
            return
        if self._converter is None:
            self._converter = PcmConverter(chunk.rate, chunk.width, chunk.channels)
        pcm = self._converter.convert(chunk.audio)
        if not self._released:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            self._energy += float(np.dot(samples, samples))
            self._samples += samples.size
        self._turn.feed(pcm)

    def _end_of_speech(self) -> None:
        if self._turn is None:
            return
        if self._released:
            self._turn.end_of_speech()
        else:
            self._speech_ended_early = True  # release() passes it on

    # The wake-word arbiter's view of this satellite (arbiter.Contender).
    @property
    def name(self) -> str:
        return self.identity.name

    def loudness(self) -> float:
        """Mean square of this turn's audio until the decision."""
        return self._energy / self._samples if self._samples else 0.0

    def release(self) -> None:
        self._released = True
        if self._turn is not None:
            self._turn.release()
        if self._speech_ended_early and self._turn is not None:
            self._turn.end_of_speech()

    def stand_down(self) -> None:
        """Another satellite heard the wake word better: drop this turn, say why."""
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None
        self._connection.spawn(
            self._connection.write_event(
                Error(
                    text="another satellite heard the wake word better and answers",
                    code="stand-down",
                ).event()
            ),
            "stand down",
        )

    async def close(self) -> None:
        """The satellite left: stop its turn and forget it."""
        if self._turn is not None:
            self._turn.cancel()
            await self._turn.wait()
        self._unregister()
