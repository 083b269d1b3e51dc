"""The Assistant: local intents first (milliseconds, no LLM), then the LLM for the rest.

It owns the home backend, the intent matcher, timers, conversation history and the LLM agent,
and is shared by the Wyoming handle service (HA's conversation agent) and the direct satellite
pipeline, so both get the same answers.

Sensitive actions the LLM asks for (unlock, open a garage door, gate or door, disarm) wait for
a spoken "yes" in the next turn of the same conversation. Locally matched sentences ("unlock the
front door") run at once, as Home Assistant's own default agent runs them: there, what a voice
may control is decided by which entities are exposed to Assist, not by a question.

A command that needs a room ("turn on the lights") from a speaker with no area is answered
"Which room?" when the home has such things in more than one room, and runs in the room the
next turn names (see `clarify`); it shares the pending slot and expiry of the confirmations.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator

from ..home.home_assistant import HomeAssistantHome
from ..home.home_file import FileHome
from ..home.model import Home
from ..settings import HandleSettings
from .actions import IntentExecutor
from .clarify import place_in_reply, with_place
from .conversations import ConversationStore, PendingAction
from .intents import IntentMatch, IntentMatcher
from .llm import LlmAgent, LlmResult
from .llm_tools import ToolRunner
from .request import Answer, HandleRequest
from .timers import TimerCallback, TimerChange, TimerManager

_LOGGER = logging.getLogger(__name__)

_HELP_EN = (
    "Sorry, I didn't understand that. You can ask me to turn devices on or off, "
    "dim a light, check whether something is on, or set a timer."
)


_YES = frozenset(
    {
        "yes",
        "yes please",
        "yes do it",
        "yeah",
        "yep",
        "sure",
        "please do",
        "do it",
        "go ahead",
        "confirm",
        "confirmed",
        "i confirm",
        "ok",
        "okay",
    }
)
"""Whole answers that confirm a pending action; anything else cancels it."""
_NO = frozenset({"no", "no thanks", "no thank you", "nope", "don't", "do not", "cancel", "stop"})
"""Whole answers that only cancel it (the rest is also handled as a new request)."""


def _reply_words(text: str) -> str:
    """The words of a short reply ("Yes, please!" -> "yes please"), for the yes/no sets."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def _summary(text: str) -> str:
    """A command as its own words, for "Okay, I won't turn on the lights." ("Turn on the
    lights!" -> "turn on the lights")."""
    words = text.strip().rstrip(".!?")
    return words[:1].lower() + words[1:]


def build_home(settings: HandleSettings) -> Home:
    """The home backend the settings ask for: HA, a home file, or the bundled demo home."""
    if settings.ha_url:
        return HomeAssistantHome(settings.ha_url, settings.ha_token or "")
    return FileHome(settings.home_file)


class Assistant:
    """Turns a request into an action and a spoken answer."""

    def __init__(
        self,
        settings: HandleSettings,
        *,
        home: Home | None = None,
        matcher: IntentMatcher | None = None,
        on_timer_finished: TimerCallback | None = None,
        on_timer_change: TimerChange | None = None,
    ) -> None:
        self.settings = settings
        self.home = home if home is not None else build_home(settings)
        self.matcher = matcher if matcher is not None else IntentMatcher(settings.language)
        self.timers = TimerManager(on_timer_finished, on_change=on_timer_change)
        self.conversations = ConversationStore()
        self.executor = IntentExecutor(self.home, self.timers, self.matcher)
        has_llm = bool(settings.ollama_url or settings.llm_url)
        self.llm = LlmAgent(settings, ToolRunner(self.executor)) if has_llm else None
        self._started = asyncio.Event()

    async def start(self) -> None:
        """Load intents and start the home; an unreachable HA or LLM never raises here."""
        try:
            await asyncio.gather(self.matcher.load(), self.home.start())
        finally:
            # Set even when loading failed: waiters then fail fast on the cause instead of
            # waiting out their bound (the server stops on a failed load anyway).
            self._started.set()

    async def wait_started(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the intents and the home (a request during start-up);
        False when they are still loading."""
        if not self._started.is_set():
            try:
                await asyncio.wait_for(self._started.wait(), timeout)
            except TimeoutError:
                return False
        return self.matcher.loaded

    async def stop(self) -> None:
        """Stop timers, the home connection and the LLM client."""
        await self.timers.stop()
        await self.home.stop()
        if self.llm is not None:
            await self.llm.stop()

    def area_for(self, satellite_id: str | None, device_id: str | None = None) -> str | None:
        """The area of the satellite/device that heard the command, when the home knows it."""
        return self.home.area_for(satellite_id, device_id)

    def _area(self, request: HandleRequest) -> str | None:
        return request.area or self.home.area_for(request.satellite_id)

    def handles_locally(self, text: str, area: str | None, satellite_id: str | None) -> bool:
        """True when `text` is a command this server would execute itself, without the LLM.

        The ASR uses it to decide whether a fast, short-window transcript can be trusted: a
        misheard command rarely still matches one of the home's intents."""
        text = text.strip()
        if not text or not self.matcher.loaded:
            return False
        area = area or self.home.area_for(satellite_id)
        match = self.matcher.match(text, self.home.snapshot, area)
        return match is not None and self.executor.supports(match.intent)

    def goes_to_llm(self, request: HandleRequest) -> bool:
        """True when `answer(request)` would go straight to the LLM: no local command, no
        pending question to answer, no room to ask for. Only such a request may be answered
        as a draft before its turn is over (pipeline/answer_run.py): the LLM's words change
        nothing, and its tool calls wait (`answer(may_act=)`), while every other path acts at
        once."""
        text = request.text.strip()
        if self.llm is None or not text or not self.matcher.loaded:
            return False
        if request.conversation_id and self.conversations.has_pending(request.conversation_id):
            return False
        area = self._area(request)
        if self.matcher.match(text, self.home.snapshot, area) is not None:
            return False
        return area is not None or self.matcher.match_needing_area(text, self.home.snapshot) is None

    def recognize(self, request: HandleRequest) -> IntentMatch | None:
        """Local recognition only (used by the `intent` reply mode: HA executes)."""
        return self.matcher.match(request.text, self.home.snapshot, self._area(request))

    async def answer(
        self, request: HandleRequest, may_act: asyncio.Event | None = None
    ) -> AsyncIterator[str | Answer]:
        """Yield LLM text deltas as they stream (none for local intents), then one Answer.

        may_act: given, the LLM's tool calls and the turn's record in the conversation wait
        until it is set (a draft answer, for a request `goes_to_llm` accepted)."""
        started = time.perf_counter()
        cid = request.conversation_id or self.conversations.new_id()
        area = self._area(request)
        text = request.text.strip()
        pending = self.conversations.take_pending(cid)
        if pending is not None:
            followed = await self._follow_up(pending, text, cid, started)
            if followed is not None:
                yield followed
                return
        match = self.matcher.match(text, self.home.snapshot, area) if text else None
        if match is not None and self.executor.supports(match.intent):
            yield await self._run_local(match, text, cid, area, started, request.satellite_id)
            return
        if match is None and area is None and text:
            asked = await self._without_area(text, cid, started)
            if asked is not None:
                yield asked
                return
        if self.llm is not None and text:
            async for item in self._llm_answer(text, cid, area, may_act):
                yield item
            return
        if not self.home.available:
            yield Answer(self.home.unavailable_message, False, "error", None, cid)
            return
        help_text = (
            _HELP_EN
            if self.matcher.language.startswith("en")
            else self.matcher.render_error("no_intent", {}) or _HELP_EN
        )
        _LOGGER.info("Not handled (no local match, no LLM): %r", text)
        yield Answer(help_text, False, "none", None, cid)

    async def _run_local(
        self,
        match: IntentMatch,
        text: str,
        cid: str,
        area: str | None,
        started: float,
        satellite_id: str | None = None,
    ) -> Answer:
        """Execute a local match, record the turn and answer it (satellite_id: who spoke, so
        a timer rings there)."""
        outcome = await self.executor.execute(match, cid, area, satellite_id)
        self.conversations.add_turn(cid, text, outcome.speech)
        _LOGGER.info(
            "Local %s %s (%.1f ms): %r -> %r",
            match.intent,
            match.slots,
            (time.perf_counter() - started) * 1000,
            text,
            outcome.speech,
        )
        return Answer(outcome.speech, outcome.success, "local", match.intent, cid)

    async def _without_area(self, text: str, cid: str, started: float) -> Answer | None:
        """A command that needs the speaker's area, from a speaker with none: run at once when
        its targets lie in one room (or none: the intent's own error), else "Which room?" with
        the command held on the conversation. None when `text` is no such command."""
        match = self.matcher.match_needing_area(text, self.home.snapshot)
        if match is None or not self.executor.supports(match.intent):
            return None
        if not self.home.available or len(self.executor.target_areas(match)) <= 1:
            return await self._run_local(match, text, cid, None, started)
        if not self.matcher.language.startswith("en"):
            return None  # the question is English only; other languages fall through as before
        pending = PendingAction(match, _summary(text), needs_area=True)
        self.conversations.set_pending(cid, pending)
        self.conversations.add_turn(cid, text, pending.question)
        _LOGGER.info("Needs a room: %s %s: %r -> asked", match.intent, match.slots, text)
        return Answer(pending.question, True, "local", match.intent, cid)

    async def _follow_up(
        self, pending: PendingAction, text: str, cid: str, started: float
    ) -> Answer | None:
        """The answer to the turn after a question; None: handle `text` as a new request."""
        if pending.needs_area:
            return await self._room_answer(pending, text, cid, started)
        return await self._confirmation(pending, text, cid)

    async def _room_answer(
        self, pending: PendingAction, text: str, cid: str, started: float
    ) -> Answer | None:
        """The held command in the area (or floor) `text` names; an acknowledgement on a no;
        None (a new request) for anything else."""
        place = place_in_reply(text, self.home.snapshot)
        if place is None:
            _LOGGER.info("No room in %r: %s cancelled", text, pending.summary)
            return self._declined(pending, text, cid)
        area = place[1] if place[0] == "area" else None
        return await self._run_local(with_place(pending.match, place), text, cid, area, started)

    def _declined(self, pending: PendingAction, text: str, cid: str) -> Answer | None:
        """The acknowledgement ("Okay, I won't ...") when `text` only says no; None when it
        says something else (then a new request)."""
        if _reply_words(text) not in _NO:
            return None
        speech = f"Okay, I won't {pending.summary}."
        self.conversations.add_turn(cid, text, speech)
        return Answer(speech, True, "local", None, cid)

    async def _confirmation(self, pending: PendingAction, text: str, cid: str) -> Answer | None:
        """The answer to the turn after a confirmation question: the held action on a yes, an
        acknowledgement on a no, None (handle `text` as a new request) for anything else."""
        words = _reply_words(text)
        if words in _YES:
            outcome = await self.executor.execute(pending.match, cid, pending.area)
            _LOGGER.info("Confirmed: %s -> %r", pending.summary, outcome.speech)
            self.conversations.add_turn(cid, text, outcome.speech)
            return Answer(outcome.speech, outcome.success, "local", pending.match.intent, cid)
        _LOGGER.info("Not confirmed (%r): %s cancelled", text, pending.summary)
        return self._declined(pending, text, cid)

    async def _llm_answer(
        self, text: str, cid: str, area: str | None, may_act: asyncio.Event | None = None
    ) -> AsyncIterator[str | Answer]:
        assert self.llm is not None
        history = self.conversations.history(cid)
        streamed = False
        answers = self.llm.respond(history, text, self.home.snapshot, cid, area, may_act)
        async for item in answers:
            if isinstance(item, LlmResult):
                if may_act is not None:
                    await may_act.wait()  # a draft is recorded only once its turn is confirmed
                if not item.ok:
                    if streamed:
                        yield f" {item.apology}"
                    yield Answer(item.text, False, "error", None, cid)
                    return
                self.conversations.add_turn(cid, text, item.text)
                if item.pending is not None:
                    self.conversations.set_pending(cid, item.pending)
                _LOGGER.info("LLM (%d tool calls): %r -> %r", item.tool_calls, text, item.text)
                yield Answer(item.text, True, "llm", None, cid)
                return
            streamed = True
            yield item
