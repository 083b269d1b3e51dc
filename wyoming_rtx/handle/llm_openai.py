"""The OpenAI-compatible transport: streamed `POST {llm_url}/chat/completions` over httpx.

For vLLM, llama.cpp's server, LM Studio, SGLang and anything else that speaks OpenAI's Chat
Completions API. Only standard request fields are sent (`model`, `messages`, `tools`,
`stream`), because some of these servers reject parameters they do not know: the context size
and keep-alive are the server's own settings there, and `llm_num_ctx` only says how much
prompt we fit.

The stream is Server-Sent Events: `data: {chat.completion.chunk}` events ending with
`data: [DONE]`. Text comes as `choices[0].delta.content`; a tool call comes in pieces keyed by
`delta.tool_calls[].index`: the first piece carries `id` and `function.name`, and
`function.arguments` is a JSON *string* whose fragments are concatenated across chunks. So
calls are complete only when the stream ends; each piece counts as progress before that. The
assistant turn goes back with the calls' ids and argument strings, each result as a `tool`
message with its `tool_call_id`.

The API key (`llm_api_key`) goes in `Authorization: Bearer`; it is never logged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..settings import HandleSettings
from .llm_backend import ALIVE, OUTPUT, LlmServerError, Progress, ToolCall
from .llm_tools import InvalidJson

CONNECT_TIMEOUT = 10.0
"""Only the connection is bounded here: the agent bounds the answer's time itself."""


@dataclass
class _PartialCall:
    """A tool call still arriving: fragments of its arguments string, in order."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def add(self, piece: dict[str, Any]) -> None:
        self.id = piece.get("id") or self.id
        function = piece.get("function") or {}
        self.name = function.get("name") or self.name
        if function.get("arguments"):
            self.arguments.append(function["arguments"])

    def complete(self, index: int) -> ToolCall:
        raw = "".join(self.arguments)
        return ToolCall(self.name, parse_arguments(raw), self.id or f"call_{index}", raw)


def parse_arguments(raw: str) -> Any:
    """The arguments string as the value it encodes; `InvalidJson` (a tool error the model
    hears) when it is not JSON. An empty string means no arguments."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        return InvalidJson(raw, err.msg)


def error_message(body: bytes) -> str:
    """The message of an error response: OpenAI's `{"error": {"message": ...}}`, vLLM's
    older top-level `{"message": ...}`, or the body's start."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return body[:200].decode(errors="replace").strip()


def _status_error(status: int, message: str, has_key: bool) -> LlmServerError:
    if status in (401, 403):
        hint = (
            "the API key was refused"
            if has_key
            else "it wants an API key (--llm-api-key-file or WYOMING_RTX_LLM_API_KEY)"
        )
        return LlmServerError(f"HTTP {status}, {hint}: {message}")
    return LlmServerError(f"HTTP {status}: {message}")


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data` of each Server-Sent Event (multi-line data joined by newlines); comments
    (`: keep-alive`) and other fields are skipped."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class OpenAiBackend:
    """Streams rounds from an OpenAI-compatible server."""

    name = "The OpenAI-compatible LLM server"

    def __init__(self, settings: HandleSettings) -> None:
        assert settings.llm_url
        self.settings = settings
        self.url = settings.llm_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Accept": "text/event-stream"}
            if self.settings.llm_api_key:
                headers["Authorization"] = f"Bearer {self.settings.llm_api_key}"
            timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT)
            self._client = httpx.AsyncClient(headers=headers, timeout=timeout)
        return self._client

    def _body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.llm_model,
            "messages": messages,
            "stream": True,
        }
        if tools:  # OpenAI rejects an empty `tools` array
            body["tools"] = tools
        return body

    async def chat(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[str | Progress | ToolCall]:
        url = f"{self.url}/chat/completions"
        async with self._get_client().stream(
            "POST", url, json=self._body(messages, tools)
        ) as response:
            if response.status_code != 200:
                message = error_message(await response.aread())
                raise _status_error(response.status_code, message, bool(self.settings.llm_api_key))
            async for item in self._read(response):
                yield item

    async def _read(self, response: httpx.Response) -> AsyncIterator[str | Progress | ToolCall]:
        """The round's items; complete tool calls once the stream has ended. The end is
        `data: [DONE]`, or a `finish_reason` followed by the server closing the stream; a
        stream cut before either is broken (a half-streamed call must not run)."""
        calls: dict[int, _PartialCall] = {}
        finished = False
        async for data in sse_data(response.aiter_lines()):
            if data.strip() == "[DONE]":
                finished = True
                break
            chunk = json.loads(data)
            for item in _chunk_items(chunk, calls):
                yield item
            finished = finished or _finish_reason(chunk) is not None
        if not finished:
            raise LlmServerError("the stream ended before data: [DONE]")
        for index in sorted(calls):
            yield calls[index].complete(index)

    def assistant_message(self, content: str, calls: list[ToolCall]) -> dict[str, Any]:
        """The model's turn; `content` is null when it only called tools (as the API allows)."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["content"] = content or None
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.raw_arguments or "{}"},
                }
                for c in calls
            ]
        return message

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": call.id, "content": content}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _finish_reason(chunk: dict[str, Any]) -> str | None:
    choices = chunk.get("choices") or [{}]
    return choices[0].get("finish_reason")


def _chunk_items(chunk: Any, calls: dict[int, _PartialCall]) -> list[str | Progress | ToolCall]:
    """The text and progress in one chunk; tool call pieces are added to `calls`."""
    if not isinstance(chunk, dict):
        raise LlmServerError(f"a stream event is not a chunk: {chunk!r:.200}")
    if "error" in chunk:  # vLLM and llama.cpp report a failure mid-stream this way
        raise LlmServerError(error_message(json.dumps(chunk).encode()))
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise LlmServerError(f"a stream chunk has no choices: {chunk!r:.200}")
    if not choices:  # the usage chunk
        return []
    delta = choices[0].get("delta") or {}
    items: list[str | Progress | ToolCall] = []
    if delta.get("content"):
        items.append(delta["content"])
    for piece in delta.get("tool_calls") or []:
        calls.setdefault(int(piece.get("index", 0)), _PartialCall()).add(piece)
        items.append(OUTPUT)
    if delta.get("reasoning_content") or delta.get("reasoning"):  # vLLM, llama.cpp: thinking
        items.append(ALIVE)
    return items
