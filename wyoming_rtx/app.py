"""The running server: engines, listener, discovery and the background model load.

Models load in the background *after* the port is bound, so `describe` is answered
within Home Assistant's one-second budget from the first moment; requests that need a
model simply await its load. A model that fails to load stops the server with a
clear message rather than leaving a half-working service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from .asr.engine import AsrEngine
from .asr.vocabulary import VocabularyPrompt
from .handle import Assistant, HandleService
from .language_check import agree_languages
from .memory import (
    HELD_RECLAIM_SLACK_BYTES,
    RECLAIM_SLACK_BYTES,
    HeapReclaimer,
    hold_working_set,
)
from .pipeline.bell import TimerBell
from .pipeline.ha_requests import HomeAssistantTurns
from .pipeline.satellite_session import SatelliteSessions
from .pipeline.trace import TraceLog
from .pipeline.turn import Pipeline
from .protocol.discovery import Discovery, default_service_name
from .protocol.dispatch import RtxHandler, Services
from .protocol.framing import FrameLimits
from .protocol.listener import Listener
from .settings import AsrSettings, HandleSettings, ServerSettings, TtsSettings
from .tts.engine import TtsEngine
from .web import WebServer

_LOGGER = logging.getLogger(__name__)


class StatusPageError(OSError):
    """The status page could not start (its port is taken, or its token cannot be kept)."""


class App:
    """Builds the engines (cheap: models are resolved, not loaded) and serves them."""

    def __init__(
        self,
        server: ServerSettings,
        asr: AsrSettings,
        tts: TtsSettings,
        handle: HandleSettings,
    ) -> None:
        self.settings = server
        self.asr = AsrEngine(asr)
        # Speech-to-text, intents and voice agree with --language, or a warning says what to
        # change; with no --voice, a voice that speaks the language is chosen.
        tts = agree_languages(asr, self.asr.resolved, tts, handle.language)
        self.tts = TtsEngine(tts)
        self.bell = TimerBell()
        """Direct satellites hear their own timers (ring where they were set)."""
        self.assistant = Assistant(
            handle, on_timer_finished=self.bell.finished, on_timer_change=self.bell.changed
        )
        self.traces = TraceLog()
        """Every turn, whichever way it arrived: the status page and /metrics read it."""
        if asr.home_vocabulary:
            self.asr.vocabulary = VocabularyPrompt(lambda: self.assistant.home.snapshot)
        self.ha_turns = HomeAssistantTurns(self.traces)
        self.handle = HandleService(self.assistant, handle, turns=self.ha_turns)
        self.pipeline = Pipeline(
            self.asr,
            self.tts,
            self.assistant,
            self.traces,
            language=asr.language,
            bell=self.bell,
            end_of_turn=server.end_of_turn,
        )
        self.services = Services(
            asr=self.asr,
            tts=self.tts,
            handle=self.handle,
            limits=FrameLimits(
                max_header_bytes=server.max_header_bytes,
                max_data_bytes=server.max_data_bytes,
                max_payload_bytes=server.max_payload_bytes,
                header_timeout=server.header_timeout,
            ),
            write_timeout=server.write_timeout,
            max_text_chars=tts.max_text_chars,
            satellites=SatelliteSessions(self.pipeline),
            ha_turns=self.ha_turns,
            is_local_command=self._is_local_command,
        )
        self.listener = Listener(
            server.uri,
            partial(RtxHandler, services=self.services),
            self.services.limits,
            allow=server.allow,
        )
        self.discovery: Discovery | None = None
        self.web: WebServer | None = None
        self._loading: asyncio.Task[None] | None = None
        self.reclaimer = HeapReclaimer(
            slack=HELD_RECLAIM_SLACK_BYTES if server.hold_memory else RECLAIM_SLACK_BYTES
        )
        self.ready = asyncio.Event()

    def _is_local_command(self, text: str) -> bool:
        """A transcription from Home Assistant names no satellite or area yet: a command that
        needs one ("turn on the lights") is decoded again without the home's names, which is
        safe."""
        return self.assistant.handles_locally(text, None, None)

    async def start(self) -> None:
        """Bind first (describe works at once), then load models in the background.

        The status page's token is read or made before anything listens: a data directory
        that cannot keep it stops the start (TokenStoreError) with no port left open."""
        if self.settings.http_uri:
            self.web = WebServer(
                self,
                self.settings.http_uri,
                token=self.settings.http_token,
                data_dir=self.settings.data_dir,
                trusted_proxies=self.settings.http_trusted_proxies,
            )
            await self.web.prepare()
        await self.listener.start()
        _LOGGER.info("Listening on %s", self.settings.uri)
        if self.web is not None:
            try:
                await self.web.start()
            except OSError as err:
                raise StatusPageError(f"Cannot listen on {self.settings.http_uri}: {err}") from err
        self._loading = asyncio.create_task(self._load(), name="load models")
        if self.settings.zeroconf and self.listener.scheme == "tcp":
            assert self.listener.port is not None
            self.discovery = Discovery(
                self.settings.zeroconf_name or default_service_name(),
                self.listener.port,
                self.settings.zeroconf_interfaces,
            )
            try:
                await self.discovery.start(self.listener.host)
            except OSError as err:
                _LOGGER.warning("Zeroconf announcement failed: %s", err)

    async def _load(self) -> None:
        started = time.monotonic()
        await asyncio.gather(
            self.asr.load(), self.tts.load(), self.assistant.start(), self._load_turn_model()
        )
        _LOGGER.info("Models loaded in %.1f s", time.monotonic() - started)
        if self.settings.hold_memory:
            hold_working_set()
        if self.settings.reclaim_memory:
            self.reclaimer.start()
        _LOGGER.info("Ready")
        self.ready.set()

    async def _load_turn_model(self) -> None:
        """Smart Turn for the server's end-of-turn judgment; without it, the transcript alone.

        ``auto`` and not installed is a warning (turns still end, on the transcript and 0.7 s
        of silence); a model named by path that cannot load stops the server like any other.
        """
        spec = self.settings.turn_model
        if self.settings.end_of_turn != "smart" or spec == "none":
            return
        from .audio.turn_model import TurnModel
        from .errors import ModelNotFoundError

        def load() -> TurnModel:
            model = TurnModel.load(spec)
            model.warm()
            return model

        try:
            self.pipeline.turn_model = await asyncio.to_thread(load)
        except ModelNotFoundError as err:
            if spec != "auto":
                raise
            _LOGGER.warning(
                "%s Direct satellites' turns end on the transcript and 0.7 s of silence.", err
            )
            return
        _LOGGER.info("End of turn: Smart Turn from %s", self.pipeline.turn_model.path)

    async def serve(self) -> None:
        """Serve until cancelled; a failed model load ends the server with its error."""
        assert self._loading is not None
        serving = asyncio.create_task(self.listener.wait_closed(), name="listener")
        try:
            await self._loading
            await serving
        finally:
            serving.cancel()

    async def stop(self) -> None:
        """Unannounce, close connections, stop the home/LLM clients, free the engines."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        await self.reclaimer.stop()
        if self.discovery is not None:
            await self.discovery.stop()
        if self.web is not None:
            await self.web.stop()
        await self.listener.stop()
        await self.assistant.stop()
        await self.bell.close()
        await self.pipeline.arbiter.close()
        if self.ready.is_set():  # engines mid-load are left to the process exit
            await self.asr.close()
            await self.tts.close()
