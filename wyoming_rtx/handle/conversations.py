"""Conversation history per conversation_id: bounded and forgotten after 5 idle minutes.

HA expires its chat sessions after 5 minutes idle and reuses the id within a session, so
keeping the same lifetime means "turn it off" refers to what was said a moment ago, while a new
conversation (or an old id after a pause) starts clean. Memory stays bounded in both turns per
conversation and conversations overall.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TURNS = 20
IDLE_SECONDS = 300.0
MAX_CONVERSATIONS = 1000


@dataclass
class _Conversation:
    turns: deque[tuple[str, str]]
    last_used: float
    extra: dict[str, str] = field(default_factory=dict)


class ConversationStore:
    """User/assistant turns by conversation id."""

    def __init__(
        self,
        max_turns: int = MAX_TURNS,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_turns = max_turns
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()

    @staticmethod
    def new_id() -> str:
        """A fresh conversation id (returned to the caller in the reply context)."""
        return uuid.uuid4().hex

    def _expire(self) -> None:
        now = self._clock()
        for cid in [
            c for c, conv in self._conversations.items() if now - conv.last_used > self.idle_seconds
        ]:
            del self._conversations[cid]

    def history(self, conversation_id: str) -> list[dict[str, str]]:
        """Chat messages of the live turns, oldest first (empty for new or expired ids)."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return []
        messages: list[dict[str, str]] = []
        for user, assistant in conversation.turns:
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        return messages

    def add_turn(self, conversation_id: str, user: str, assistant: str) -> None:
        """Record one exchange; drops the oldest turn past `max_turns`."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            conversation = _Conversation(deque(maxlen=self.max_turns), self._clock())
            self._conversations[conversation_id] = conversation
        conversation.turns.append((user, assistant))
        conversation.last_used = self._clock()
        self._conversations.move_to_end(conversation_id)
        while len(self._conversations) > MAX_CONVERSATIONS:
            self._conversations.popitem(last=False)

    def __len__(self) -> int:
        self._expire()
        return len(self._conversations)
