"""The Ollama transport: `/api/chat` through the `ollama` package, streamed.

Ollama-only request fields: `options.num_ctx` (Ollama sizes the context per request, so the
prompt we fit to `llm_num_ctx` really gets that context) and `keep_alive`. Tool calls arrive
whole, with arguments as a JSON object, and go back with `tool_name` (Ollama has no call ids).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ollama

from ..settings import HandleSettings
from .llm_backend import ALIVE, Progress, ToolCall


class OllamaBackend:
    """Streams rounds from Ollama."""

    name = "Ollama"

    def __init__(self, settings: HandleSettings) -> None:
        assert settings.ollama_url
        self.settings = settings
        self.url = settings.ollama_url
        self._client: ollama.AsyncClient | None = None

    def _get_client(self) -> ollama.AsyncClient:
        if self._client is None:
            self._client = ollama.AsyncClient(host=self.url)
        return self._client

    async def chat(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[str | Progress | ToolCall]:
        stream = await self._get_client().chat(
            model=self.settings.llm_model,
            messages=messages,
            tools=tools,
            stream=True,
            options={"num_ctx": self.settings.llm_num_ctx},
            keep_alive=self.settings.llm_keep_alive,
        )
        async for chunk in stream:
            if chunk.message.content:
                yield chunk.message.content
            if chunk.message.tool_calls:
                for call in chunk.message.tool_calls:
                    yield ToolCall(call.function.name, call.function.arguments)
            elif chunk.message.thinking:
                yield ALIVE

    def assistant_message(self, content: str, calls: list[ToolCall]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments}} for c in calls
            ]
        return message

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]:
        return {"role": "tool", "content": content, "tool_name": call.name}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
