"""A local server speaking OpenAI's Chat Completions API as vLLM, llama.cpp's server or LM Studio
serve it, for tests (127.0.0.1 only).

Written to the published shapes, not to our client's expectations:

- `POST /v1/chat/completions` with `stream: true` answers Server-Sent Events, one
  `data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {...},
  "finish_reason": ...}], ...}` per event and a final `data: [DONE]` (OpenAI API reference,
  "The chat completion chunk object"; openai-python `types/chat/chat_completion_chunk.py`).
  The first chunk's delta is `{"role": "assistant", "content": ""}`; a tool call streams as a
  first piece `{"index", "id", "type": "function", "function": {"name", "arguments": ""}}` then
  pieces `{"index", "function": {"arguments": "<fragment>"}}`; parallel calls follow each
  other with their own `index`; the last chunk has an empty delta and `finish_reason`
  "tool_calls" or "stop".
- Requests are checked as OpenAI checks them: only documented parameters (`strict`), a
  non-empty `tools`, assistant `tool_calls` with `id`, `type` and string `arguments`, each
  answered by a `tool` message with its `tool_call_id` before the next user message.
- Errors use OpenAI's shape `{"error": {"message", "type", "param", "code"}}`: 401
  `invalid_api_key` when `api_key` is set and `Authorization: Bearer <key>` is not sent,
  404 `model_not_found`, 400 `invalid_request_error`.
- `GET /v1/models`: `{"object": "list", "data": [{"id", "object": "model", "created",
  "owned_by"}]}`, behind the same key.

Usage::

    async with FakeOpenAi(api_key="sk-test") as server:    # server.url ends in /v1
        server.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
        server.queue_reply(tool_calls=[("turn_on", '{"name": ')])  # arguments not JSON
        server.queue_reply("Done.")
        server.first_token_delay = 2.0; server.token_delay = 0.05
        server.stall_after_tokens = (2, 5.0); server.close_after_tokens = 2
        server.requests; server.headers                   # every chat request received
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.ollama_server import Reply, echo_responder
from tests.fakes.site import RestartableSite

CHAT_PARAMETERS = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)
"""The documented request body of `POST /chat/completions`; `strict` rejects anything else."""
ARGUMENT_PIECE = 7
"""Characters per streamed fragment of a tool call's arguments string."""


class RequestError(Exception):
    """A request OpenAI would refuse with 400."""


class FakeOpenAi(RestartableSite):
    """An aiohttp app on a free 127.0.0.1 port; behaviour is set through attributes."""

    def __init__(self, models: tuple[str, ...] = ("x", "llama3.2"), api_key: str = "") -> None:
        super().__init__()
        self.models = models
        self.api_key = api_key
        self.strict = True
        self.replies: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] = echo_responder
        self.token_delay = 0.0
        self.first_token_delay = 0.0
        self.close_after_tokens: int | None = None
        self.stall_after_tokens: tuple[int, float] | None = None
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._calls = 0

    @property
    def url(self) -> str:
        """The base URL as users give it to `--llm-url`."""
        return f"http://127.0.0.1:{self.port}/v1"

    def queue_reply(
        self, content: str = "", tool_calls: list[tuple[str, Any]] | None = None, delay: float = 0.0
    ) -> None:
        """Queue the next assistant message; a tool call's arguments are JSON-encoded unless
        given as a string (sent as is: the way to send arguments that are not JSON)."""
        self.replies.append(Reply(content, list(tool_calls or ()), delay))

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    def _error(self, status: int, message: str, kind: str, code: str | None) -> web.Response:
        error = {"message": message, "type": kind, "param": None, "code": code}
        return web.json_response({"error": error}, status=status)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if not self.api_key or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self._error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )

    async def _models(self, request: web.Request) -> web.Response:
        if refused := self._unauthorized(request):
            return refused
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "fake"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        if refused := self._unauthorized(request):
            return refused
        try:
            body = await request.json()
            self.requests.append(body)
            _check(body, self.strict)
        except (json.JSONDecodeError, RequestError) as err:
            return self._error(400, str(err), "invalid_request_error", None)
        if body["model"] not in self.models:
            message = f"The model `{body['model']}` does not exist."
            return self._error(404, message, "invalid_request_error", "model_not_found")
        if body.get("stream") is not True:
            return self._error(400, "this fake only streams", "invalid_request_error", None)
        reply = self.replies.popleft() if self.replies else self.responder(body)
        return await self._stream(request, body["model"], reply)

    async def _stream(self, request: web.Request, model: str, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        chunk = _chunker(f"chatcmpl-{len(self.requests)}", model)
        await response.write(_event(chunk({"role": "assistant", "content": ""})))
        await asyncio.sleep(self.first_token_delay + reply.delay)
        for delta in self._tool_call_deltas(reply):
            await asyncio.sleep(self.token_delay)
            await response.write(_event(chunk(delta)))
        for index, token in enumerate(re.findall(r"\S+\s*|\s+", reply.content)):
            if self.close_after_tokens is not None and index >= self.close_after_tokens:
                assert request.transport is not None
                request.transport.close()
                return response
            if self.stall_after_tokens is not None and index == self.stall_after_tokens[0]:
                await asyncio.sleep(self.stall_after_tokens[1])
            await asyncio.sleep(self.token_delay)
            await response.write(_event(chunk({"content": token})))
        finish = "tool_calls" if reply.tool_calls else "stop"
        await response.write(_event(chunk({}, finish)))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _tool_call_deltas(self, reply: Reply) -> list[dict[str, Any]]:
        """Each call: a first piece with id and name, then its arguments in fragments."""
        deltas: list[dict[str, Any]] = []
        for index, (name, arguments) in enumerate(reply.tool_calls):
            self._calls += 1
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            first = {
                "index": index,
                "id": f"call_{self._calls:024d}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            deltas.append({"tool_calls": [first]})
            for start in range(0, len(text), ARGUMENT_PIECE):
                piece = {
                    "index": index,
                    "function": {"arguments": text[start : start + ARGUMENT_PIECE]},
                }
                deltas.append({"tool_calls": [piece]})
        return deltas


def _chunker(completion_id: str, model: str) -> Callable[..., dict[str, Any]]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    return chunk


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _check(body: Any, strict: bool) -> None:
    """Refuse what OpenAI refuses (400), so our requests are held to the API, not to us."""
    if not isinstance(body, dict) or "model" not in body or "messages" not in body:
        raise RequestError("'model' and 'messages' are required")
    unknown = sorted(set(body) - CHAT_PARAMETERS)
    if strict and unknown:
        raise RequestError(f"Unrecognized request argument supplied: {', '.join(unknown)}")
    if "tools" in body:
        _check_tools(body["tools"])
    _check_messages(body["messages"])


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list) or not tools:
        raise RequestError("[] is too short - 'tools'")
    for tool in tools:
        if tool.get("type") != "function" or not tool.get("function", {}).get("name"):
            raise RequestError(f"invalid tool {tool!r}")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array")
    waiting: set[str] = set()
    for message in messages:
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in waiting or not isinstance(message.get("content"), str):
                raise RequestError(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            waiting.discard(call_id)
            continue
        if waiting:
            raise RequestError(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                f"responding to each 'tool_call_id'. Missing: {', '.join(sorted(waiting))}"
            )
        if role not in ("system", "developer", "user", "assistant"):
            raise RequestError(f"invalid role {role!r}")
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                arguments = call.get("function", {}).get("arguments")
                if not call.get("id") or call.get("type") != "function":
                    raise RequestError(f"a tool call needs an id and type 'function': {call!r}")
                if not isinstance(arguments, str):
                    raise RequestError("tool call arguments must be a string")
                waiting.add(call["id"])
        elif not isinstance(message.get("content"), str):
            raise RequestError(f"a {role} message needs string content")
    if waiting:
        raise RequestError(f"tool calls without results: {', '.join(sorted(waiting))}")
