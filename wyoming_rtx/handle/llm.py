"""LLM fallback: streamed chat, home-aware system prompt, tools, bounded time.

One agent, two transports (`llm_backend`): Ollama (`llm_ollama`) or an OpenAI-compatible
server such as vLLM, llama.cpp's server or LM Studio (`llm_openai`). Everything below holds
for both; a backend only sends a round and reads it back as normalized items.

The chat runs in its own task and hands text deltas over a queue, so the caller can stop
waiting (unreachable, cold or stalled LLM server) and speak an apology, while the task is
cancelled cleanly instead of leaving an httpx stream half-read.

Two time bounds, because the user hears two different kinds of silence:

- `llm_first_token_timeout` (default 60 s): from the request to the model's first output, a
  text delta or a tool call. A cold model load, or a model that thinks before it speaks, is
  slow to start but not broken, so this bound is long.
- `llm_timeout` (default 20 s): once the model has started, the longest silence between two
  signs of progress. Progress is a text delta, a tool call, a thinking delta, a tool starting
  and a tool finishing. So the time our tools take never counts against the model, and each
  tool must finish within `llm_timeout`; the model's next round, after the tool results, must
  show progress within `llm_timeout` of the last tool: the model is loaded by then and only the
  tool results are new to it, so a longer wait means it stalled.

Any exception in the chat task (not only the server's connection and response errors) ends the
answer at once with a spoken apology, and is logged with its traceback; a tool call that fails
goes back to the model as a tool error instead (`llm_tools.ToolRunner`).

The prompt is built to fit `llm_num_ctx` by `llm_prompt`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
import pydantic

from ..home.model import HomeSnapshot
from ..settings import HandleSettings
from .conversations import PendingAction
from .llm_backend import ALIVE, OUTPUT, LlmBackend, LlmServerError, Progress, ToolCall
from .llm_ollama import OllamaBackend
from .llm_openai import OpenAiBackend
from .llm_prompt import (
    build_messages,
)
from .llm_tools import TOOLS, ToolRunner

_LOGGER = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 5
APOLOGY = "Sorry, my language model is not answering right now. Home commands still work."
ERROR_APOLOGY = "Sorry, something went wrong while I was answering. Home commands still work."
_TRANSPORT_ERRORS = (
    ConnectionError,
    ollama.ResponseError,
    httpx.HTTPError,
    json.JSONDecodeError,
    pydantic.ValidationError,
    LlmServerError,
)
"""The LLM server unreachable, refusing, or sending what is not its API (a broken stream): its
apology blames the language model; anything else is our bug and gets ERROR_APOLOGY."""


@dataclass
class LlmResult:
    """The end of one LLM answer."""

    text: str
    ok: bool
    tool_calls: int = 0
    apology: str = ""
    """The apology ending `text` after a failure (the caller streams it after the deltas)."""
    pending: PendingAction | None = None
    """A sensitive action the model asked for: `text` ends with the question about it."""


def make_backend(settings: HandleSettings) -> LlmBackend:
    """The backend the settings name: `llm_url` (OpenAI-compatible) or `ollama_url`."""
    if settings.llm_url:
        return OpenAiBackend(settings)
    if settings.ollama_url:
        return OllamaBackend(settings)
    raise ValueError("an LLM needs settings.llm_url or settings.ollama_url")


class LlmAgent:
    """Talks to the LLM server; `respond()` yields text deltas then one `LlmResult`."""

    def __init__(
        self, settings: HandleSettings, tools: ToolRunner, backend: LlmBackend | None = None
    ) -> None:
        self.settings = settings
        self.tools = tools
        self.backend = backend or make_backend(settings)
        self._failures = 0
        self._trim_logged = False

    async def stop(self) -> None:
        """Close the HTTP client."""
        await self.backend.close()

    async def respond(
        self,
        history: list[dict[str, str]],
        text: str,
        home: HomeSnapshot,
        conversation_id: str | None = None,
        area: str | None = None,
        may_act: asyncio.Event | None = None,
    ) -> AsyncIterator[str | LlmResult]:
        """Stream an answer; on a failure or a timeout (module docstring), end with an apology.

        A failure inside the chat task arrives here as its result at once, so the apology is
        spoken as soon as the failure happens, never after a timeout.

        may_act: given, every tool call waits until it is set. A draft answer, started on a
        transcript before the speaker's turn is over (pipeline/answer_run.py), streams its
        words at once but changes nothing in the home before the turn is confirmed; a draft
        that is dropped is cancelled while it waits."""
        queue: asyncio.Queue[str | Progress | LlmResult] = asyncio.Queue()
        task = asyncio.create_task(
            self._run(history, text, home, queue, conversation_id, area, may_act),
            name="llm chat",
        )
        loop = asyncio.get_running_loop()
        started = False
        deadline = loop.time() + self.settings.llm_first_token_timeout
        spoken: list[str] = []
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    self._log_failure(self._timeout_reason(started))
                    yield from_failure(spoken)
                    return
                if isinstance(item, LlmResult):
                    if item.ok:
                        self._failures = 0
                    yield item
                    return
                if isinstance(item, Progress) and not (item.started or started):
                    continue  # thinking before the first output: the first-token bound holds
                started = True
                deadline = loop.time() + self.settings.llm_timeout
                if isinstance(item, str):
                    spoken.append(item)
                    yield item
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _timeout_reason(self, started: bool) -> str:
        if started:
            return f"silent for {self.settings.llm_timeout:g} s mid-answer"
        return f"no first words within {self.settings.llm_first_token_timeout:g} s"

    def _log_failure(self, reason: str, err: BaseException | None = None) -> None:
        """One WARNING line per outage, then DEBUG until the server answers again."""
        self._failures += 1
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        name, url = self.backend.name, self.backend.url
        _LOGGER.log(level, "%s at %s failed: %s", name, url, reason, exc_info=err)

    def _messages(
        self,
        history: list[dict[str, str]],
        text: str,
        home: HomeSnapshot,
        area: str | None,
    ) -> list[dict[str, Any]]:
        messages, stats = build_messages(
            self.settings, home, history, text, area, datetime.datetime.now()
        )
        _LOGGER.debug(
            "LLM prompt ~%d of %d tokens: %d of %d entities, %d of %d history messages",
            stats.tokens,
            self.settings.llm_num_ctx,
            stats.entities,
            stats.entities_total,
            stats.history,
            stats.history_total,
        )
        if stats.entities < stats.entities_total and not self._trim_logged:
            self._trim_logged = True
            _LOGGER.info(
                "The home has %d entities; the LLM prompt lists the %d that fit --llm-num-ctx %d "
                "(the satellite's area and lights, switches, covers, climate, locks and media "
                "first)",
                stats.entities_total,
                stats.entities,
                self.settings.llm_num_ctx,
            )
        return messages

    async def _run(
        self,
        history: list[dict[str, str]],
        text: str,
        home: HomeSnapshot,
        queue: asyncio.Queue[str | Progress | LlmResult],
        conversation_id: str | None,
        area: str | None,
        may_act: asyncio.Event | None = None,
    ) -> None:
        """The chat, tool rounds included; always ends by putting one `LlmResult`."""
        parts: list[str] = []
        try:
            result = await self._chat(
                self._messages(history, text, home, area),
                queue,
                parts,
                conversation_id,
                area,
                may_act,
            )
        except _TRANSPORT_ERRORS as err:
            self._log_failure(str(err) or type(err).__name__, err)
            result = from_failure(parts)
        except Exception:
            _LOGGER.exception("The LLM answer to %r failed", text)
            result = from_failure(parts, ERROR_APOLOGY)
        await queue.put(result)

    async def _chat(
        self,
        messages: list[dict[str, Any]],
        queue: asyncio.Queue[str | Progress | LlmResult],
        parts: list[str],
        conversation_id: str | None,
        area: str | None,
        may_act: asyncio.Event | None = None,
    ) -> LlmResult:
        tool_calls_done = 0
        for round_no in range(MAX_TOOL_ROUNDS + 1):
            tools = TOOLS if round_no < MAX_TOOL_ROUNDS else []
            content, calls = await self._round(messages, tools, queue, parts)
            messages.append(self.backend.assistant_message("".join(content), calls))
            if not calls:
                break
            for call in calls:
                if may_act is not None and not may_act.is_set():
                    _LOGGER.debug("Tool call %s waits for the turn to be confirmed", call.name)
                    await may_act.wait()
                await queue.put(ALIVE)
                result = await self.tools.run(call.name, call.arguments, conversation_id, area)
                tool_calls_done += 1
                await queue.put(ALIVE)
                if result.pending is not None:
                    return await self._ask(result.pending, queue, parts, tool_calls_done)
                messages.append(self.backend.tool_message(call, result.content))
        return LlmResult(_joined(parts), True, tool_calls_done)

    async def _round(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        queue: asyncio.Queue[str | Progress | LlmResult],
        parts: list[str],
    ) -> tuple[list[str], list[ToolCall]]:
        """One request: text deltas and progress go to the queue as they come; the round's
        text and complete tool calls are returned."""
        content: list[str] = []
        calls: list[ToolCall] = []
        async for item in self.backend.chat(messages, tools):
            if isinstance(item, str):
                content.append(item)
                parts.append(item)
                await queue.put(item)
            elif isinstance(item, ToolCall):
                calls.append(item)
                await queue.put(OUTPUT)
            else:
                await queue.put(item)
        return content, calls

    async def _ask(
        self,
        pending: PendingAction,
        queue: asyncio.Queue[str | Progress | LlmResult],
        parts: list[str],
        tool_calls_done: int,
    ) -> LlmResult:
        """End the answer with our own confirmation question, not the model's words: the
        model could claim the door is open, and a fixed question is what the yes answers.
        Tool calls after the held one in the same round are not run."""
        delta = f" {pending.question}" if parts else pending.question
        parts.append(delta)
        await queue.put(delta)
        return LlmResult(_joined(parts), True, tool_calls_done, pending=pending)


def _joined(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


def from_failure(spoken: list[str], apology: str = APOLOGY) -> LlmResult:
    """The result after a failure: the apology (after whatever was already spoken)."""
    already = _joined(spoken)
    return LlmResult(f"{already} {apology}".strip(), False, apology=apology)


def tool_names() -> list[str]:
    """Names of the tools offered to the model (for docs and tests)."""
    return [t["function"]["name"] for t in TOOLS]
