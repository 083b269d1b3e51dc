"""What one LLM transport gives the agent: a stream of normalized items, one round at a time.

`LlmAgent` owns everything that is behaviour (timeouts, tool rounds, confirmations, prompt
fitting, apologies); a backend only speaks one server's chat API. So Ollama's `/api/chat` and
an OpenAI-compatible `/chat/completions` behave identically, failures included, because the
only thing they differ in is how a round is sent and read and how its messages are written back.

A round's stream holds text deltas (`str`), `Progress` markers (thinking, or a piece of a tool
call still arriving) and complete `ToolCall`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


class Progress:
    """A sign that the model or a tool is working (see `llm` on the two time bounds)."""

    def __init__(self, started: bool) -> None:
        self.started = started
        """True when this is model output (a tool call), which ends the first-token wait."""


OUTPUT = Progress(started=True)
"""Model output that is not text: a tool call, or a piece of one."""
ALIVE = Progress(started=False)
"""Work that is not output: the model thinking, a tool running."""


@dataclass(frozen=True)
class ToolCall:
    """One complete tool call, as the model made it."""

    name: str
    arguments: Any
    """Parsed arguments: usually a dict; anything else (or `InvalidJson`) is a tool error."""
    id: str = ""
    """The server's id for the call (OpenAI-compatible servers), echoed in the tool result."""
    raw_arguments: str = ""
    """The arguments exactly as streamed (OpenAI-compatible servers send them back as is)."""


class LlmServerError(Exception):
    """The LLM server refused the request or sent what is not its API (the agent apologises
    and blames the language model, as for a connection error)."""


class LlmBackend(Protocol):
    """One server's chat API."""

    name: str
    """Who failed, for the log: "Ollama", "The OpenAI-compatible LLM server"."""
    url: str

    def chat(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> AsyncIterator[str | Progress | ToolCall]:
        """Stream one round: text deltas, progress, then (or among them) complete tool calls."""
        ...

    def assistant_message(self, content: str, calls: list[ToolCall]) -> dict[str, Any]:
        """The model's turn as this API wants it back in the next round's messages."""
        ...

    def tool_message(self, call: ToolCall, content: str) -> dict[str, Any]:
        """A tool's result as this API wants it."""
        ...

    async def close(self) -> None:
        """Close the HTTP client."""
        ...
