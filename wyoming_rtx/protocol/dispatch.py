"""The per-connection dispatcher: one port serving describe, ASR, TTS, handle and turns.

Home Assistant opens a fresh connection per STT/TTS/conversation request, while a
direct satellite keeps one open for many turns. Each event family is handed to the
session object that owns that exchange; this module only routes, answers `describe`
and `ping` itself, and turns malformed events into `error` events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from ..asr.transcription import TranscriptionSession
from ..errors import RtxError
from ..tts.synthesis import SynthesisSession
from .connection import Connection
from .framing import FrameLimits

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine
    from ..handle import HandleService
    from ..pipeline.ha_requests import HomeAssistantTurns
    from ..tts.engine import TtsEngine

_LOGGER = logging.getLogger(__name__)


class SatelliteHandler(Protocol):
    """What the direct-satellite pipeline provides per connection (pipeline/satellite_session)."""

    def wants(self, event: Event) -> bool:
        """True when this event belongs to a satellite turn rather than a plain request."""

    async def handle_event(self, event: Event) -> None:
        """Process a satellite event (info, run-pipeline, audio, played, ...)."""

    async def close(self) -> None:
        """Cancel the turn in progress and release everything."""


class SatelliteHandlerFactory(Protocol):
    """Creates a SatelliteHandler bound to one connection, when an event opens one."""

    def opens(self, event: Event) -> bool:
        """True when this event starts a satellite session on this connection."""

    def __call__(self, connection: Connection) -> SatelliteHandler: ...


@dataclass
class Services:
    """Everything a connection may use, built once by __main__."""

    asr: AsrEngine | None
    tts: TtsEngine | None
    handle: HandleService | None
    limits: FrameLimits = field(default_factory=FrameLimits)
    write_timeout: float = 15.0
    max_text_chars: int = 20_000
    satellites: SatelliteHandlerFactory | None = None
    ha_turns: HomeAssistantTurns | None = None
    """Records Home Assistant's separate requests as turns (status page, metrics)."""
    is_local_command: Callable[[str], bool] | None = None
    """Lets a transcription keep a fast short-window transcript of a local command."""
    info: Info = field(init=False)
    info_event: Event = field(init=False)

    def __post_init__(self) -> None:
        from .info import build_info

        self.info = build_info(self.asr, self.tts, self.handle)
        self.info_event = self.info.event()


class RtxHandler(Connection):
    """Routes one connection's events to the session that owns each exchange."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services
    ) -> None:
        super().__init__(reader, writer, services.limits, services.write_timeout)
        self.services = services
        self._stt = (
            TranscriptionSession(
                services.asr,
                self.write_event,
                self.spawn,
                turns=services.ha_turns,
                accept=services.is_local_command,
            )
            if services.asr is not None
            else None
        )
        self._tts = (
            SynthesisSession(
                services.tts,
                self.write_event,
                self.spawn,
                services.max_text_chars,
                turns=services.ha_turns,
            )
            if services.tts is not None
            else None
        )
        self._satellite: SatelliteHandler | None = None

    async def handle_event(self, event: Event) -> bool:
        """Dispatch one event; a malformed event is an `error`, never a dropped link."""
        if Describe.is_type(event.type):
            await self.write_event(self.services.info_event)
            return True
        try:
            await self._dispatch(event)
        except RtxError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RtxError(f"malformed {event.type!r} event: {err!r}", code="bad-event") from err
        return True

    async def _dispatch(self, event: Event) -> None:
        kind = event.type
        if Ping.is_type(kind):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
            return
        satellite = self._satellite_handler(event)
        if satellite is not None:
            await satellite.handle_event(event)
            return
        if self._route_stt(event) or self._route_tts(event):
            return
        if Transcript.is_type(kind) and self.services.handle is not None:
            transcript = Transcript.from_event(event)
            self.spawn(self.services.handle.on_transcript(transcript, self.write_event), "handle")
            return
        _LOGGER.debug("Ignoring %s event from %s", kind, self.peer)

    def _satellite_handler(self, event: Event) -> SatelliteHandler | None:
        factory = self.services.satellites
        if factory is None:
            return None
        if self._satellite is None:
            if not factory.opens(event):
                return None
            self._satellite = factory(self)
        return self._satellite if self._satellite.wants(event) else None

    def _route_stt(self, event: Event) -> bool:
        stt, kind = self._stt, event.type
        if stt is None:
            return False
        if Transcribe.is_type(kind):
            stt.on_transcribe(Transcribe.from_event(event))
        elif AudioStart.is_type(kind):
            stt.on_audio_start(AudioStart.from_event(event))
        elif AudioChunk.is_type(kind):
            if event.payload is None:
                raise RtxError("audio-chunk without audio payload", code="bad-event")
            stt.on_audio_chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(kind):
            stt.on_audio_stop()
        else:
            return False
        return True

    def _route_tts(self, event: Event) -> bool:
        tts, kind = self._tts, event.type
        if tts is None:
            return False
        if Synthesize.is_type(kind):
            tts.on_synthesize(Synthesize.from_event(event))
        elif SynthesizeStart.is_type(kind):
            tts.on_start(SynthesizeStart.from_event(event))
        elif SynthesizeChunk.is_type(kind):
            tts.on_chunk(SynthesizeChunk.from_event(event))
        elif SynthesizeStop.is_type(kind):
            tts.on_stop()
        else:
            return False
        return True

    async def on_close(self) -> None:
        """Client gone: stop its utterance and its satellite turn."""
        if self._stt is not None:
            self._stt.close()
        if self._tts is not None:
            self._tts.close()
        if self._satellite is not None:
            await self._satellite.close()
