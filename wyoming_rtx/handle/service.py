"""The Wyoming handle/intent exchange, exactly as HA's wyoming conversation entity uses it.

HA (homeassistant/components/wyoming/conversation.py) opens a connection per sentence, sends
`transcript{text, language, context:{conversation_id, device_id?, satellite_id?}}` and reads
until one of `handled`, `not-handled`, `intent` (or `intents-start` … `intents-stop`),
`not-recognized` or `error`; anything else is skipped. So the streamed `handled-start` /
`handled-chunk` events are harmless to HA and useful to streaming clients, and the full text
always follows in one `handled`. In `intent` mode HA executes the intent itself and, when its
handler sets no speech, renders our `intent.text` as a template with the real states: we send
the intents package's own response template there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled
from wyoming.info import Attribution, HandleModel, HandleProgram, IntentModel, IntentProgram
from wyoming.intent import Entity as IntentEntity
from wyoming.intent import Intent, NotRecognized

from ..pipeline.ha_requests import reporting
from ..settings import HandleSettings
from . import never_silent
from .actions import TIMER_INTENTS
from .assistant import Assistant
from .request import Answer, HandleRequest

if TYPE_CHECKING:
    from ..pipeline.ha_requests import ConversationRecord, HomeAssistantTurns

_LOGGER = logging.getLogger(__name__)

HA_TIMER_INTENTS = TIMER_INTENTS | {"HassIncreaseTimer", "HassDecreaseTimer"}
"""Answered to Home Assistant as `intent` even in handled mode: its timer manager keeps them
and rings the satellite (by the device_id it passes along), where this server cannot."""

_ATTRIBUTION = Attribution(name="wyoming-rtx", url="")
"""Our own program. No canonical project URL is declared anywhere yet, so none is made up."""
_INTENTS_ATTRIBUTION = Attribution(
    name="home-assistant-intents", url="https://github.com/OHF-Voice/intents"
)
"""The sentences and intents the model matches against (Apache-2.0, OHF-Voice)."""
try:
    _VERSION = version("wyoming-rtx")
except PackageNotFoundError:
    _VERSION = "0"
WriteEvent = Callable[[Event], Awaitable[None]]


class HandleService:
    """Answers `transcript` events with handled/not-handled (or intent/not-recognized)."""

    def __init__(
        self,
        assistant: Assistant,
        settings: HandleSettings,
        turns: HomeAssistantTurns | None = None,
        startup_wait: float = never_silent.STARTUP_WAIT_SECONDS,
    ) -> None:
        """turns: where each request is recorded as the conversation stage of a turn.
        startup_wait: how long a request during start-up waits for the intents."""
        if settings.reply_mode not in ("handled", "intent"):
            raise ValueError(f"reply_mode must be handled or intent, not {settings.reply_mode!r}")
        self.assistant = assistant
        self.settings = settings
        self.turns = turns
        self.startup_wait = startup_wait

    @property
    def intent_mode(self) -> bool:
        """True when HA executes our intents (reply `intent{name, entities}`)."""
        return self.settings.reply_mode == "intent"

    def info_sections(self) -> tuple[list[HandleProgram], list[IntentProgram]]:
        """The `handle` program, and an `intent` program only in intent mode (HA prefers it)."""
        languages = [self.settings.language]
        version = _VERSION
        handle = HandleProgram(
            name="wyoming-rtx",
            description="Local Home Assistant intents first, then an LLM",
            attribution=_ATTRIBUTION,
            installed=True,
            version=version,
            models=[
                HandleModel(
                    name=f"home-assistant-intents-{self.settings.language}",
                    description="hassil + home-assistant-intents"
                    + (
                        f", LLM {self.settings.llm_model}"
                        if self.settings.llm_url or self.settings.ollama_url
                        else ""
                    ),
                    attribution=_INTENTS_ATTRIBUTION,
                    installed=True,
                    version=version,
                    languages=languages,
                )
            ],
            supports_handled_streaming=True,
            supports_home_control=True,
        )
        intents: list[IntentProgram] = []
        if self.intent_mode:
            intents.append(
                IntentProgram(
                    name="wyoming-rtx-intents",
                    description="hassil + home-assistant-intents (Home Assistant executes)",
                    attribution=_ATTRIBUTION,
                    installed=True,
                    version=version,
                    models=[
                        IntentModel(
                            name=f"home-assistant-intents-{self.settings.language}",
                            description="hassil + home-assistant-intents",
                            attribution=_INTENTS_ATTRIBUTION,
                            installed=True,
                            version=version,
                            languages=languages,
                        )
                    ],
                )
            )
        return [handle], intents

    async def on_transcript(self, transcript: Transcript, write_event: WriteEvent) -> None:
        """Answer one transcript; the reply context carries the conversation id."""
        context: dict[str, Any] = dict(transcript.context or {})
        satellite_id = context.get("satellite_id")
        device_id = context.get("device_id")
        area = context.get("area") or self.assistant.area_for(satellite_id, device_id)
        request = HandleRequest(
            text=transcript.text or "",
            conversation_id=context.get("conversation_id"),
            language=transcript.language,
            area=area,
            satellite_id=satellite_id,
        )
        record = (
            self.turns.conversation(
                request.text, request.conversation_id, satellite_id or device_id, area
            )
            if self.turns is not None
            else None
        )
        with reporting(record):
            await self._answer(request, context, write_event, record)
        if record is not None and not record.over:
            record.failed("the request ended without an answer")

    async def _answer(
        self,
        request: HandleRequest,
        context: dict[str, Any],
        write_event: WriteEvent,
        record: ConversationRecord | None,
    ) -> None:
        startup_wait = self.startup_wait
        # In handled mode too, timers go back to Home Assistant as intents: its Wyoming
        # conversation agent runs them with the satellite's device_id, so its timer manager
        # rings the satellite that set them (this server cannot reach an HA satellite).
        only = None if self.intent_mode else HA_TIMER_INTENTS
        if await self.assistant.wait_started(startup_wait) and await self._reply_intent(
            request, context, write_event, record, only
        ):
            return
        startup_wait = 0.0  # already waited: answers() says "still starting" at once
        streaming = False
        async for item in never_silent.answers(self.assistant, request, startup_wait=startup_wait):
            if isinstance(item, Answer):
                if record is not None:
                    # Before it is written: Home Assistant asks for the speech as soon as it
                    # reads the answer, and that request must find this turn.
                    record.answer(item)
                reply = {**context, "conversation_id": item.conversation_id}
                if item.handled:
                    await write_event(Handled(text=item.text, context=reply).event())
                elif self.intent_mode and item.source == "none":
                    await write_event(NotRecognized(text=item.text, context=reply).event())
                else:
                    await write_event(NotHandled(text=item.text, context=reply).event())
                if streaming:
                    await _write_quietly(write_event, HandledStop().event())
                return
            if not streaming:
                streaming = True
                await write_event(HandledStart(context=context or None).event())
            await write_event(HandledChunk(text=item).event())

    async def _reply_intent(
        self,
        request: HandleRequest,
        context: dict[str, Any],
        write_event: WriteEvent,
        record: ConversationRecord | None,
        only: frozenset[str] | None = None,
    ) -> bool:
        """Send `intent{name, entities}` for a local match; False when nothing matched (or,
        with `only`, when the match is not one of those intents).

        A failure of the recognition is logged and treated as no match: the request then
        goes the `handled` way, which always ends in an answer Home Assistant speaks."""
        try:
            match = self.assistant.recognize(request)
        except Exception:
            _LOGGER.exception("Recognizing %r failed", request.text)
            return False
        if match is None or (only is not None and match.intent not in only):
            return False
        entities = [IntentEntity(name=k, value=v) for k, v in match.slots.items()]
        text = self.assistant.matcher.response_source(match.intent, match.response_key)
        cid = request.conversation_id or self.assistant.conversations.new_id()
        _LOGGER.info(
            "Intent for Home Assistant: %s %s (%r)", match.intent, match.slots, request.text
        )
        if record is not None:
            record.intent(match.intent)
        await write_event(
            Intent(
                name=match.intent,
                entities=entities,
                text=text,
                context={**context, "conversation_id": cid},
            ).event()
        )
        return True


async def _write_quietly(write_event: WriteEvent, event: Event) -> None:
    """Write a trailing event the caller may no longer read (HA closes after `handled`)."""
    try:
        await write_event(event)
    except (ConnectionError, OSError) as err:
        _LOGGER.debug("Client closed before %s: %s", event.type, err)
