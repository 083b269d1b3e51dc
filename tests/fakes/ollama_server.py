"""A local server speaking Ollama's documented HTTP API, for tests (127.0.0.1 only).

Implements `POST /api/chat` (streamed NDJSON, or one JSON object with `"stream": false`),
`GET /api/tags`, `POST /api/show`, `GET /api/version` and Ollama's error shape
`{"error": "..."}`, per https://github.com/ollama/ollama/blob/main/docs/api.md.

Usage::

    async with FakeOllama() as ollama:            # free port; ollama.url
        ollama.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
        ollama.queue_reply("Done, the kitchen light is on.")
        ollama.token_delay = 0.05                   # seconds per streamed token
        ollama.error_status = (500, "boom")         # every request fails with that status
        ollama.close_after_tokens = 2               # drop the connection mid-stream
        ollama.bad_token_after = 1                  # send a line that is not JSON
        ollama.stall_after_tokens = (2, 5.0)        # fall silent 5 s after 2 tokens
        ollama.queue_reply("Hi.", delay=3.0, thinking="Hmm.")  # per reply: wait, then think
        await ollama.go_down(); await ollama.come_up()   # connection refused, then back
        ollama.requests                            # every /api/chat body received

Replies not queued come from `responder(body) -> Reply` (default: echo the last user message).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.site import RestartableSite

MODEL = "llama3.2"


@dataclass
class Reply:
    """One assistant message: text (streamed word by word) and/or tool calls."""

    content: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    """(name, arguments): arguments as the model gave them (an object, or anything else)."""
    delay: float = 0.0
    """Seconds before this reply's first chunk (a cold load, a slow prompt evaluation)."""
    thinking: str = ""
    """Streamed word by word as `message.thinking` before the content (a thinking model)."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def echo_responder(body: dict[str, Any]) -> Reply:
    """Default: repeat the last user message."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return Reply(f"You said: {users[-1]['content']}" if users else "Hello.")


class FakeOllama(RestartableSite):
    """An aiohttp app on a free 127.0.0.1 port; behaviour is set through attributes."""

    def __init__(self, models: tuple[str, ...] = (MODEL,)) -> None:
        super().__init__()
        self.models = models
        self.replies: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply] = echo_responder
        self.token_delay = 0.0
        self.first_token_delay = 0.0
        self.error_status: tuple[int, str] | None = None
        self.close_after_tokens: int | None = None
        self.bad_token_after: int | None = None
        self.stall_after_tokens: tuple[int, float] | None = None
        self.requests: list[dict[str, Any]] = []

    def queue_reply(
        self,
        content: str = "",
        tool_calls: list[tuple[str, Any]] | None = None,
        delay: float = 0.0,
        thinking: str = "",
    ) -> None:
        """Queue the next assistant message (used before `responder`)."""
        self.replies.append(Reply(content, list(tool_calls or ()), delay, thinking))

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        app.router.add_get("/api/version", self._version)
        return app

    def _error(self, status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def _tags(self, request: web.Request) -> web.Response:
        if self.error_status:
            return self._error(*self.error_status)
        models = [
            {
                "name": f"{m}:latest",
                "model": f"{m}:latest",
                "modified_at": _now(),
                "size": 2019393189,
                "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for m in self.models
        ]
        return web.json_response({"models": models})

    async def _show(self, request: web.Request) -> web.Response:
        body = await request.json()
        name = str(body.get("model") or body.get("name") or "")
        if name.split(":")[0] not in self.models:
            return self._error(404, f"model '{name}' not found")
        return web.json_response(
            {
                "modelfile": f"FROM {name}",
                "parameters": "num_ctx 4096",
                "template": "{{ .Prompt }}",
                "details": {
                    "format": "gguf",
                    "family": "llama",
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
                "model_info": {"general.architecture": "llama"},
                "capabilities": ["completion", "tools"],
                "modified_at": _now(),
            }
        )

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.0"})

    def _chunk(self, model: str, message: dict[str, Any], done: bool) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "model": model,
            "created_at": _now(),
            "message": message,
            "done": done,
        }
        if done:
            chunk.update(
                done_reason="stop",
                total_duration=1_000_000,
                load_duration=1000,
                prompt_eval_count=10,
                prompt_eval_duration=1000,
                eval_count=5,
                eval_duration=1000,
            )
        return chunk

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(400, "invalid request body")
        self.requests.append(body)
        if self.error_status:
            return self._error(*self.error_status)
        model = str(body.get("model", ""))
        if model.split(":")[0] not in self.models:
            return self._error(404, f"model '{model}' not found, try pulling it first")
        reply = self.replies.popleft() if self.replies else self.responder(body)
        tool_calls = [
            {"function": {"name": name, "arguments": args}} for name, args in reply.tool_calls
        ]
        tokens = re.findall(r"\S+\s*|\s+", reply.content)
        if body.get("stream", True) is False:
            await asyncio.sleep(
                self.first_token_delay + reply.delay + self.token_delay * len(tokens)
            )
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if tool_calls:
                message["tool_calls"] = tool_calls
            return web.json_response(self._chunk(model, message, True))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await asyncio.sleep(self.first_token_delay + reply.delay)
        for word in re.findall(r"\S+\s*", reply.thinking):
            await asyncio.sleep(self.token_delay)
            thought = {"role": "assistant", "content": "", "thinking": word}
            await response.write(_line(self._chunk(model, thought, False)))
        if tool_calls:
            tool_message = {"role": "assistant", "content": "", "tool_calls": tool_calls}
            await response.write(_line(self._chunk(model, tool_message, False)))
        for index, token in enumerate(tokens):
            if self.close_after_tokens is not None and index >= self.close_after_tokens:
                assert request.transport is not None
                request.transport.close()
                return response
            if self.bad_token_after is not None and index >= self.bad_token_after:
                await response.write(b'{"model": "broken\n')
                return response
            if self.stall_after_tokens is not None and index == self.stall_after_tokens[0]:
                await asyncio.sleep(self.stall_after_tokens[1])
            await asyncio.sleep(self.token_delay)
            token_message = {"role": "assistant", "content": token}
            await response.write(_line(self._chunk(model, token_message, False)))
        done_message = {"role": "assistant", "content": ""}
        await response.write(_line(self._chunk(model, done_message, True)))
        await response.write_eof()
        return response


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode() + b"\n"
