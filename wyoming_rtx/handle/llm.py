"""LLM fallback through Ollama: streamed chat, home-aware system prompt, tools, bounded time.

The chat runs in its own task and hands text deltas over a queue, so the caller can stop
waiting after `llm_timeout` seconds of silence (unreachable or stalled Ollama) and speak an
apology, while the task is cancelled cleanly instead of leaving an httpx stream half-read.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from ..home.model import HomeSnapshot
from ..settings import HandleSettings
from .llm_tools import TOOLS, ToolRunner

_LOGGER = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 5
MAX_PROMPT_ENTITIES = 150
APOLOGY = "Sorry, my language model is not answering right now. Home commands still work."

_BASE_PROMPT = (
    "You are the voice assistant of a home. Your answers are spoken aloud: reply in one or two "
    "short sentences of plain text, without markdown, lists or emoji. Use the tools to control "
    "or check devices and timers, and never claim to have changed something without calling a "
    "tool. Use device and area names exactly as listed."
)


@dataclass
class LlmResult:
    """The end of one LLM answer."""

    text: str
    ok: bool
    tool_calls: int = 0


def system_prompt(
    home: HomeSnapshot, extra: str | None, area: str | None, now: datetime.datetime
) -> str:
    """Short prompt: instructions, time, the satellite's area and the home's names and states."""
    lines = [_BASE_PROMPT, f"It is {now:%A %d %B %Y, %H:%M}."]
    if area:
        lines.append(f"The user is in the {area}; 'here' means the {area}.")
    if extra:
        lines.append(extra.strip())
    lines.append("Devices (name | area | state):")
    for entity in list(home.entities.values())[:MAX_PROMPT_ENTITIES]:
        entity_area = home.entity_area(entity)
        lines.append(
            f"- {entity.name} | {entity_area.name if entity_area else '-'} | "
            f"{entity.domain} {entity.state_with_unit}"
        )
    return "\n".join(lines)


class LlmAgent:
    """Talks to Ollama; `respond()` yields text deltas then one `LlmResult`."""

    def __init__(self, settings: HandleSettings, tools: ToolRunner) -> None:
        if not settings.ollama_url:
            raise ValueError("LlmAgent needs settings.ollama_url")
        self.settings = settings
        self.tools = tools
        self._client: ollama.AsyncClient | None = None
        self._failures = 0

    def _get_client(self) -> ollama.AsyncClient:
        if self._client is None:
            self._client = ollama.AsyncClient(host=self.settings.ollama_url)
        return self._client

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def respond(
        self,
        history: list[dict[str, str]],
        text: str,
        home: HomeSnapshot,
        conversation_id: str | None = None,
        area: str | None = None,
    ) -> AsyncIterator[str | LlmResult]:
        """Stream an answer; on failure or `llm_timeout` s of silence, end with the apology."""
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": system_prompt(
                    home, self.settings.llm_prompt, area, datetime.datetime.now()
                ),
            },
            *history,
            {"role": "user", "content": text},
        ]
        queue: asyncio.Queue[str | LlmResult] = asyncio.Queue()
        task = asyncio.create_task(
            self._run(messages, queue, conversation_id, area), name="ollama chat"
        )
        spoken: list[str] = []
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.settings.llm_timeout)
                except TimeoutError:
                    self._log_failure(f"no answer within {self.settings.llm_timeout:g} s")
                    yield from_failure(spoken)
                    return
                if isinstance(item, LlmResult):
                    if item.ok:
                        self._failures = 0
                    yield item
                    return
                spoken.append(item)
                yield item
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _log_failure(self, reason: str) -> None:
        """One WARNING line per outage, then DEBUG until Ollama answers again."""
        self._failures += 1
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        _LOGGER.log(level, "Ollama at %s failed: %s", self.settings.ollama_url, reason)

    async def _run(
        self,
        messages: list[dict[str, Any]],
        queue: asyncio.Queue[str | LlmResult],
        conversation_id: str | None,
        area: str | None,
    ) -> None:
        parts: list[str] = []
        tool_calls_done = 0
        try:
            for round_no in range(MAX_TOOL_ROUNDS + 1):
                content: list[str] = []
                calls: list[Any] = []
                stream = await self._get_client().chat(
                    model=self.settings.llm_model,
                    messages=messages,
                    tools=TOOLS if round_no < MAX_TOOL_ROUNDS else [],
                    stream=True,
                    options={"num_ctx": self.settings.llm_num_ctx},
                    keep_alive=self.settings.llm_keep_alive,
                )
                async for chunk in stream:
                    delta = chunk.message.content or ""
                    if delta:
                        content.append(delta)
                        parts.append(delta)
                        await queue.put(delta)
                    calls.extend(chunk.message.tool_calls or ())
                assistant: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
                if calls:
                    assistant["tool_calls"] = [
                        {"function": {"name": c.function.name, "arguments": c.function.arguments}}
                        for c in calls
                    ]
                messages.append(assistant)
                if not calls:
                    break
                for call in calls:
                    result = await self.tools.run(
                        call.function.name, call.function.arguments, conversation_id, area
                    )
                    tool_calls_done += 1
                    messages.append(
                        {"role": "tool", "content": result, "tool_name": call.function.name}
                    )
        except (ConnectionError, ollama.ResponseError, httpx.HTTPError, ValueError) as err:
            self._log_failure(str(err) or type(err).__name__)
            await queue.put(from_failure(parts))
            return
        text = " ".join("".join(parts).split())
        await queue.put(LlmResult(text, True, tool_calls_done))


def from_failure(spoken: list[str]) -> LlmResult:
    """The result after a failure: the apology (after whatever was already spoken)."""
    already = " ".join("".join(spoken).split())
    return LlmResult(f"{already} {APOLOGY}".strip(), False)


def tool_names() -> list[str]:
    """Names of the tools offered to the model (for docs and tests)."""
    return [t["function"]["name"] for t in TOOLS]
