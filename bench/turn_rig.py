"""The end-of-turn bench's rig (issue 19): one turn of an item played through the real direct
satellite against a running server, with the clock read at each step.

``Rig`` is one configuration's satellite (``SatelliteLoop``, ``DirectClient``, ``Speaker`` +
``AnswerPlayer``) with only the seams a test would supply: the item as a paced microphone
(``PacedMic``), a wake word that fires on the first chunk (``ScriptedWake``), a speaker sink that
stamps the first answer audio (``StampSink``), and an uplink that stamps ``audio-stop``
(``StampedUplink``); ``TurnStamps`` holds one turn's readings. Where the satellite code does not
follow the server's ``voice-started``/``voice-stopped`` yet, the rig's adapter does. ``Config``
is one end-of-turn configuration (a server and the satellite's rule), which the rig is built from.

Apart from the scoring (``bench/turn_score.py``) and the command (``bench/end_of_turn.py``):
this is the only part that runs satellite code, and it turns a recording into clock readings
with no opinion on what they mean (the scoring's job).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wyoming.client import AsyncClient
from wyoming.event import Event

from bench.turn_corpus import Item
from satellite.audio_in import CHUNK_BYTES
from satellite.audio_out import Speaker
from satellite.core import SatelliteLoop, TurnUplink, build_info
from satellite.direct import DirectClient
from satellite.mic_supervisor import MicSupervisor
from satellite.settings import DirectSettings, SatelliteSettings, SndSettings, VadSettings
from satellite.turn_judge import load_turn_judge
from satellite.wake import WakeDetection, WakeDetector, WakeWordModel
from wyoming_rtx.audio.endpoint import EndReason
from wyoming_rtx.audio.vad import CHUNK_SECONDS, SpeechDetector

TURN_TIMEOUT_S = 45.0
REAL_SERVER_END = "server_ended" in getattr(TurnUplink, "__annotations__", {})
"""The satellite code itself follows the server's voice-started/voice-stopped."""


@dataclass(frozen=True)
class Config:
    """One end-of-turn configuration: a server and the satellite's rule."""

    key: str
    label: str
    server: str
    """Key of ``SERVERS`` (``bench/end_of_turn.py``)."""
    silence_ms: int
    fallback_ms: int | None = None
    """The satellite's rule after the server's ``voice-started`` (None: never switches)."""
    satellite_judges: bool = False
    """The satellite scores its own pauses with Smart Turn (``satellite/turn_judge.py``), as in
    Home Assistant mode; False: its silence rule alone (``--turn-model none``)."""


# --- the satellite's seams ------------------------------------------------------------------


@dataclass
class TurnStamps:
    """One turn's clock readings (``time.monotonic``, the event loop's clock)."""

    t0: float = 0.0
    """When the item's first sample was "spoken" (the mic's start)."""
    ended: float | None = None
    """``audio-stop`` sent."""
    end_reason: str = ""
    events: dict[str, float] = field(default_factory=dict)
    """First arrival of each event type from the server."""
    first_sound: float | None = None
    """First answer audio written to the speaker sink."""
    sound_bytes: int = 0


class ScriptedWake:
    """A wake word engine that fires on the first audio it hears, once."""

    frame_seconds = CHUNK_SECONDS

    def __init__(self) -> None:
        self.models = [WakeWordModel("bench_turn", "(bench)", Path("bench_turn"))]
        self._armed = True

    def default_threshold(self, wake_id: str) -> float:
        return 0.5

    def process(self, pcm: bytes) -> list[dict[str, float]]:
        if self._armed and pcm:
            self._armed = False
            return [{"bench_turn": 1.0}]
        return []

    def reset(self) -> None:
        return None


class StampSink:
    """The speaker's sink: keeps nothing, stamps the first answer audio of the turn."""

    def __init__(self) -> None:
        self.turn: TurnStamps | None = None

    async def start(self) -> None:
        return None

    async def write(self, pcm: bytes) -> None:
        turn = self.turn
        if turn is not None and pcm:
            if turn.first_sound is None:
                turn.first_sound = time.monotonic()
            turn.sound_bytes += len(pcm)

    async def finish(self) -> None:
        return None

    async def abort(self) -> None:
        return None


class StampedUplink:
    """The real uplink, with ``audio-stop`` stamped; the server's verdict flags pass through
    (or are the bench adapter's, where the real uplink has none)."""

    def __init__(self, inner: Any, turn: TurnStamps) -> None:
        self.inner = inner
        self.turn = turn
        self.adapter_judges = False
        self.adapter_ended = False

    @property
    def server_judges(self) -> bool:
        return bool(getattr(self.inner, "server_judges", False)) or self.adapter_judges

    @property
    def server_ended(self) -> bool:
        return bool(getattr(self.inner, "server_ended", False)) or self.adapter_ended

    async def audio(self, pcm: bytes) -> None:
        await self.inner.audio(pcm)

    async def end(self, reason: EndReason) -> None:
        self.turn.ended = time.monotonic()
        self.turn.end_reason = reason.value
        await self.inner.end(reason)


class BenchClient(DirectClient):
    """The real direct-mode client; stamps each server event's first arrival per turn."""

    turn: TurnStamps | None = None
    on_server_verdict: Any = None
    """Bench adapter (satellite code without server end of turn): called with the event."""

    async def _handle(self, client: AsyncClient, event: Event) -> None:
        turn = self.turn
        if turn is not None:
            turn.events.setdefault(event.type, time.monotonic())
        if self.on_server_verdict is not None and event.type in ("voice-started", "voice-stopped"):
            self.on_server_verdict(event.type)
        await super()._handle(client, event)


class BenchTransport:
    """The direct client as the loop's transport, handing out stamped uplinks."""

    def __init__(self, client: BenchClient) -> None:
        self.client = client
        self.uplink: StampedUplink | None = None

    @property
    def busy(self) -> bool:
        return self.client.busy

    @property
    def answering(self) -> bool:
        return self.client.answering

    def take_follow_up(self) -> bool:
        self.client.take_follow_up()  # every bench turn starts with its (scripted) wake word
        return False

    def interrupt(self) -> None:
        self.client.interrupt()

    async def begin_turn(self, detection: WakeDetection) -> TurnUplink | None:
        inner = await self.client.begin_turn(detection)
        if inner is None or self.client.turn is None:
            return None
        self.uplink = StampedUplink(inner, self.client.turn)
        return self.uplink  # type: ignore[return-value]


class PacedMic:
    """The item as the microphone: 32 ms chunks at real-time pace from an absolute clock.

    Ends when the turn has ended (or the recording has). Where the satellite code does not
    follow the server's verdict itself, ``wake`` lets ``voice-stopped`` end the turn at once.
    """

    restartable = False

    def __init__(self, pcm: bytes, rig: Rig) -> None:
        self.chunks = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
        self.rig = rig
        self.index = 0
        self.wake = asyncio.Event()

    async def open(self) -> None:
        assert self.rig.client.turn is not None
        self.rig.client.turn.t0 = time.monotonic()

    async def read(self) -> bytes | None:
        rig, turn = self.rig, self.rig.client.turn
        assert turn is not None and rig.loop is not None
        if self.index >= len(self.chunks) or any(e.kind == "turn_ended" for e in rig.loop.events):
            return None
        due = turn.t0 + (self.index + 1) * CHUNK_SECONDS
        while (delay := due - time.monotonic()) > 0:
            if REAL_SERVER_END:
                await asyncio.sleep(delay)
                continue
            if await rig.adapter_step():
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()
        if not REAL_SERVER_END and await rig.adapter_step():
            return None
        self.index += 1
        return self.chunks[self.index - 1]

    async def close(self) -> None:
        return None


class Rig:
    """One configuration's satellite: its settings, speaker, client and server link."""

    def __init__(self, config: Config, port: int, http_port: int) -> None:
        self.config = config
        self.port, self.http_port = port, http_port
        self.settings = SatelliteSettings(
            name=f"bench-{config.key}",
            area="Study",
            snd=SndSettings(awake_wav=None, done_wav=None, timer_finished_wav=None),
            vad=VadSettings(silence_ms=config.silence_ms),
            response_timeout_seconds=20.0,
            barge_in=False,
        )
        self.sink = StampSink()
        self.speaker = Speaker(self.settings.snd, self.sink)
        info = build_info(self.settings, ["bench_turn"], ["(bench)"])
        direct = DirectSettings(server_uri=f"tcp://127.0.0.1:{port}")
        self.client = BenchClient(self.settings, direct, self.speaker, info)
        self.transport = BenchTransport(self.client)
        self.vad = SpeechDetector(self.settings.vad.threshold)
        self.judge = load_turn_judge("auto") if config.satellite_judges else None
        if config.satellite_judges and self.judge is None:
            raise SystemExit(f"{config.key}: the Smart Turn model is not installed")
        self.loop: SatelliteLoop | None = None
        self.last = TurnStamps()
        """The last turn's stamps (kept when the turn fails)."""
        self.mic: PacedMic | None = None
        self._link: asyncio.Task | None = None
        if not REAL_SERVER_END:
            self.client.on_server_verdict = self._verdict

    async def start(self) -> None:
        self._link = asyncio.create_task(self.client.run(), name=f"link {self.config.key}")
        await asyncio.wait_for(self.client.connected.wait(), 30)

    async def close(self) -> None:
        if self._link is not None:
            self._link.cancel()
            await asyncio.gather(self._link, return_exceptions=True)

    # The bench adapter, for satellite code that does not follow the server's verdict yet.
    def _verdict(self, event_type: str) -> None:
        uplink = self.transport.uplink
        if uplink is None or self.loop is None:
            return
        uplink.adapter_judges = True
        uplink.adapter_ended |= event_type == "voice-stopped"
        if self.mic is not None:
            self.mic.wake.set()

    async def adapter_step(self) -> bool:
        """Apply the server's verdict between chunks; True when it ended the turn."""
        loop, uplink = self.loop, self.transport.uplink
        if loop is None or uplink is None or loop._uplink is None:  # noqa: SLF001
            return False
        detector = loop._end_of_turn  # noqa: SLF001
        fallback = self.config.fallback_ms
        if uplink.adapter_judges and detector is not None and fallback is not None:
            detector.rules = replace(detector.rules, silence_seconds=fallback / 1000)
        if uplink.adapter_ended:
            reason = getattr(EndReason, "COMPLETE", EndReason.RELEASED)
            await loop._end_turn(reason)  # noqa: SLF001
            return True
        return False

    async def idle(self) -> None:
        """Until no answer is pending or playing (polled: ``busy`` is a property)."""
        for _ in range(int(TURN_TIMEOUT_S / 0.02)):
            if not self.client.busy:
                return
            await asyncio.sleep(0.02)

    async def turn(self, item: Item, pcm: bytes) -> tuple[TurnStamps, str, str]:
        """One turn of ``item``; returns (stamps, transcript, answer text)."""
        await self.idle()  # the last answer still plays (or its bound runs out)
        stamps = self.last = TurnStamps()
        heard, answered = len(self.client.transcripts), len(self.client.answers)
        self.client.turn = self.sink.turn = stamps
        self.transport.uplink = None
        self.mic = PacedMic(pcm, self)
        mic = self.mic
        supervisor = MicSupervisor(self.settings.mic, lambda: mic)
        wake = WakeDetector(ScriptedWake(), self.settings.wake)
        self.loop = SatelliteLoop(
            self.settings, supervisor, wake, self.speaker, self.transport, self.vad, self.judge
        )
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                await self.loop.run()
                await self.idle()
        finally:
            self.client.turn = self.sink.turn = None
            self.mic = None
        transcript = " ".join(self.client.transcripts[heard:])
        answer = " ".join(text for _, text in self.client.answers[answered:])
        return stamps, transcript, answer
