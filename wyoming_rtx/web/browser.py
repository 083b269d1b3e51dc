"""The browser satellite: a page's microphone over a WebSocket into the same direct pipeline.

The page streams 16 kHz s16le mono PCM as binary messages and sends small JSON commands
(hello, start, stop, cancel, played). The server decides where speech starts and ends, with
the same silero wrapper and end-of-turn detector as the room satellite
(``wyoming_rtx.audio``, ``BROWSER_RULES``), opens a pipeline turn only once speech has
started (so a quiet room makes no empty turns), and sends back JSON (transcript, answer,
audio-start, audio-stop, turn) plus the answer audio as binary messages, which the page plays
as they arrive. One WebSocket is one satellite; closing it cancels its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp import WSMsgType, web

from ..audio.endpoint import EndOfTurnDetector, EndOfTurnRules, EndReason, PreRoll, TurnPhase
from ..audio.vad import CHUNK_SECONDS, SpeechDetector
from ..handle import Answer
from ..pipeline.turn import Pipeline, PipelineTurn, SatelliteIdentity, SatelliteStatus

_LOGGER = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
"""A browser sends 32 ms of audio (1 KiB) at a time; anything far bigger is not our page."""
_NAME_RE = re.compile(r"[^A-Za-z0-9 _.-]")
MODES = ("push-to-talk", "hands-free")


def clean_name(value: Any, default: str, limit: int = 40) -> str:
    """A printable, bounded name from untrusted input."""
    if not isinstance(value, str):
        return default
    cleaned = _NAME_RE.sub("", value).strip()[:limit]
    return cleaned or default


class BrowserOutput:
    """TurnOutput over the WebSocket; a client that stops reading is dropped, not waited on."""

    def __init__(self, ws: web.WebSocketResponse, write_timeout: float) -> None:
        self._ws = ws
        self._timeout = write_timeout
        self.server_ended: Callable[[EndReason], Awaitable[None]] | None = None
        """The browser satellite's own end of the utterance, when the server judged it over."""

    async def send_json(self, payload: dict[str, Any]) -> None:
        await asyncio.wait_for(self._ws.send_str(json.dumps(payload)), self._timeout)

    async def send_transcript(self, text: str) -> None:
        await self.send_json({"type": "transcript", "text": text})

    async def send_answer(self, answer: Answer) -> None:
        await self.send_json(
            {
                "type": "answer",
                "text": answer.text,
                "handled": answer.handled,
                "source": answer.source,
            }
        )

    async def send_audio_start(self, rate: int, width: int, channels: int) -> None:
        await self.send_json(
            {"type": "audio-start", "rate": rate, "width": width, "channels": channels}
        )

    async def send_audio(self, pcm: bytes) -> None:
        await asyncio.wait_for(self._ws.send_bytes(pcm), self._timeout)

    async def send_audio_stop(self) -> None:
        await self.send_json({"type": "audio-stop"})

    async def send_speech_started(self) -> None:
        """Nothing to send: the page heard "speech-started" when the turn opened."""

    async def send_end_of_speech(self, reason: EndReason) -> None:
        if self.server_ended is not None:
            await self.server_ended(reason)


class BrowserSatellite:
    """One browser tab: listening state, its end-of-turn detector, at most one turn at a time."""

    def __init__(
        self,
        pipeline: Pipeline,
        ws: web.WebSocketResponse,
        peer: str,
        vad_factory: Callable[[], SpeechDetector],
        rules: EndOfTurnRules,
        write_timeout: float = 15.0,
    ) -> None:
        """vad_factory: a fresh detector per utterance (silero's state belongs to one stream)."""
        self._pipeline = pipeline
        self._ws = ws
        self._peer = peer
        self._vad_factory = vad_factory
        self._rules = rules
        self._output = BrowserOutput(ws, write_timeout)
        self._output.server_ended = self._server_ended
        self.identity = SatelliteIdentity(name="browser")
        self._registered = False
        self._vad: SpeechDetector | None = None
        self._end_of_turn: EndOfTurnDetector | None = None
        """The utterance being listened for; None when not listening."""
        self._preroll = PreRoll(rules.preroll_seconds)
        self._turn: PipelineTurn | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Serve messages until the page goes away."""
        try:
            async for message in self._ws:
                if message.type == WSMsgType.BINARY:
                    await self._on_audio(message.data)
                elif message.type == WSMsgType.TEXT:
                    await self._on_command(message.data)
                elif message.type == WSMsgType.ERROR:
                    _LOGGER.info("Browser %s WebSocket error: %s", self._peer, self._ws.exception())
                    break
        finally:
            await self.close()

    async def _on_command(self, text: str) -> None:
        try:
            command = json.loads(text)
            kind = command["type"]
        except (ValueError, KeyError, TypeError):
            await self._error("bad-message", "expected a JSON object with a type")
            return
        if kind == "hello":
            await self._hello(command)
        elif kind == "start":
            mode = command.get("mode", "hands-free")
            if mode not in MODES:
                await self._error("bad-mode", f"mode must be one of {', '.join(MODES)}")
                return
            await self._start(end_on_silence=mode == "hands-free")
        elif kind == "stop":
            await self._stop()
        elif kind == "cancel":
            self._cancel()
        elif kind == "played":
            if self._turn is not None:
                self._turn.played()
        else:
            await self._error("bad-message", f"unknown message type {kind!r}")

    async def _hello(self, command: dict[str, Any]) -> None:
        name = clean_name(command.get("name"), "browser")
        area = clean_name(command.get("area"), "") or None
        taken = set(self._pipeline.satellites) - (
            {self.identity.name} if self._registered else set()
        )
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}-{n}", n + 1
        self._unregister()
        self.identity = SatelliteIdentity(name=unique, area=area)
        self._pipeline.satellites[unique] = SatelliteStatus(name=unique, area=area, peer=self._peer)
        self._registered = True
        _LOGGER.info("Browser satellite %s (area %s) from %s", unique, area or "-", self._peer)
        await self._output.send_json({"type": "ready", "name": unique, "area": area})

    async def _start(self, end_on_silence: bool) -> None:
        """Listen for a new utterance; a turn still answering is cut off (barge-in)."""
        if not self._registered:
            await self._hello({})
        self._cancel()
        self._vad = self._vad_factory()
        self._end_of_turn = EndOfTurnDetector(replace(self._rules, end_on_silence=end_on_silence))
        self._preroll.clear()
        self._pipeline.set_state(self.identity, "listening")
        await self._output.send_json({"type": "listening"})

    async def _on_audio(self, pcm: bytes) -> None:
        detector, vad = self._end_of_turn, self._vad
        if detector is None or vad is None or detector.ended:
            return
        if len(pcm) % 2:
            await self._error("bad-audio", "audio must be 16-bit samples")
            return
        # Until speech starts the audio waits in the pre-roll; after, it goes to this
        # utterance's turn (not to an earlier turn still answering).
        if not detector.speech_started:
            self._preroll.add(pcm)
        elif self._turn is not None:
            self._turn.feed(pcm)

        def detect() -> list[TurnPhase]:
            return detector.feed(vad.process(pcm), CHUNK_SECONDS)

        # silero costs ~3 ms a frame in Python: off the loop, so a client streaming faster
        # than real time cannot stall describe/ping for everyone else.
        phases = await asyncio.to_thread(detect)
        if detector is not self._end_of_turn:
            return  # cancelled or restarted while the VAD ran
        for phase in phases:
            if phase is TurnPhase.SPEAKING:
                self._turn = self._pipeline.open_turn(self.identity, self._output, entry="browser")
                self._turn.feed(self._preroll.take())
                await self._output.send_json({"type": "speech-started"})
            elif phase is TurnPhase.ENDED:
                await self._ended(detector)

    async def _stop(self) -> None:
        """Push-to-talk released: end the utterance now (or drop it if nothing was said)."""
        detector = self._end_of_turn
        if detector is None or detector.ended:
            return
        detector.release()
        await self._ended(detector)

    async def _ended(self, detector: EndOfTurnDetector) -> None:
        if detector.end_reason is EndReason.NO_SPEECH:
            await self._no_speech()
        elif detector.end_reason is not None:
            await self._end_of_speech(detector.end_reason)

    async def _no_speech(self) -> None:
        self._end_of_turn = self._vad = None
        self._pipeline.set_state(self.identity, "idle")
        await self._output.send_json({"type": "no-speech"})

    async def _server_ended(self, reason: EndReason) -> None:
        """The pipeline judged the utterance complete before this page's silence rule."""
        detector = self._end_of_turn
        if detector is not None and detector.complete():
            await self._end_of_speech(reason)

    async def _end_of_speech(self, reason: EndReason) -> None:
        """Speech ended (``silence``, ``max_length`` or ``released``): the turn answers now."""
        turn = self._turn
        if turn is None:
            return
        turn.end_of_speech()
        await self._output.send_json(
            {"type": "end-of-speech", "reason": reason.value, "turn_id": turn.trace.turn_id}
        )
        task = asyncio.create_task(self._report(turn), name=f"browser turn {turn.trace.turn_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, turn: PipelineTurn) -> None:
        """Tell the page the turn's timings once its answer has been sent."""
        trace = await turn.wait()
        with contextlib.suppress(ConnectionError, TimeoutError, RuntimeError):
            await self._output.send_json({"type": "turn", "turn": trace.to_dict()})

    def _cancel(self) -> None:
        self._end_of_turn = self._vad = None
        if self._turn is not None and not self._turn.done:
            self._turn.cancel()

    async def _error(self, code: str, message: str) -> None:
        _LOGGER.info("Browser %s: %s", self._peer, message)
        await self._output.send_json({"type": "error", "code": code, "message": message})

    def _unregister(self) -> None:
        status = self._pipeline.satellites.get(self.identity.name)
        if self._registered and status is not None and status.peer == self._peer:
            del self._pipeline.satellites[self.identity.name]
        self._registered = False

    async def close(self) -> None:
        """The page went away: stop its turn, its reporters, and forget it."""
        self._cancel()
        if self._turn is not None:
            await self._turn.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._unregister()
