"""Conversation history per conversation_id: bounded and forgotten after 5 idle minutes.

HA expires its chat sessions after 5 minutes idle and reuses the id within a session, so
keeping the same lifetime means "turn it off" refers to what was said a moment ago, while a new
conversation (or an old id after a pause) starts clean. Memory stays bounded in both turns per
conversation and conversations overall.

A conversation can also hold one pending sensitive action (unlock, open a garage door) that the
LLM asked for: it runs only when the user's next turn there says yes, within `PENDING_SECONDS`.
The same slot holds a command that waits for a room ("turn on the lights" from a speaker with no
area, answered "Which room?"): one pending thing per conversation, one expiry, whichever the
question was.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .intents import IntentMatch

MAX_TURNS = 20
IDLE_SECONDS = 300.0
MAX_CONVERSATIONS = 1000
PENDING_SECONDS = 60.0
"""A confirmation question is answered right away or not at all: a "yes" (or "the kitchen") a
minute later may be about something else, so the pending action is forgotten after this."""

WHICH_ROOM = "Which room?"
"""The question for a command that needs a room. home-assistant-intents has no response for it
(Home Assistant itself just does not match such a sentence without a satellite area), so it is
English; the question mark lets Home Assistant keep the microphone open for the answer."""


@dataclass(frozen=True)
class PendingAction:
    """An action held until the user's next turn: a sensitive action the LLM asked for (runs
    on "yes"), or a local command that needs a room (runs when the next turn names one)."""

    match: IntentMatch
    """The tool call as an intent, executed unchanged on "yes"; or the command without its
    area, executed with the area the next turn names."""
    summary: str
    """What it does, for the question, the answers and the log ("unlock the Front Door")."""
    area: str | None = None
    needs_area: bool = False
    """True when the question is "Which room?" rather than "Do you want me to ...?"."""

    @property
    def question(self) -> str:
        """What the user is asked; see `Assistant` for what the answers do."""
        if self.needs_area:
            return WHICH_ROOM
        return f"Do you want me to {self.summary}?"


@dataclass
class _Conversation:
    turns: deque[tuple[str, str]]
    last_used: float
    extra: dict[str, str] = field(default_factory=dict)
    pending: PendingAction | None = None
    pending_until: float = 0.0


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

    def _touch(self, conversation_id: str) -> _Conversation:
        """The live conversation (created when new), marked as just used."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            conversation = _Conversation(deque(maxlen=self.max_turns), self._clock())
            self._conversations[conversation_id] = conversation
        conversation.last_used = self._clock()
        self._conversations.move_to_end(conversation_id)
        while len(self._conversations) > MAX_CONVERSATIONS:
            self._conversations.popitem(last=False)
        return conversation

    def add_turn(self, conversation_id: str, user: str, assistant: str) -> None:
        """Record one exchange; drops the oldest turn past `max_turns`."""
        self._touch(conversation_id).turns.append((user, assistant))

    def set_pending(
        self, conversation_id: str, action: PendingAction, seconds: float = PENDING_SECONDS
    ) -> None:
        """Hold `action` until the next turn of this conversation (replaces an older one)."""
        conversation = self._touch(conversation_id)
        conversation.pending = action
        conversation.pending_until = self._clock() + seconds

    def has_pending(self, conversation_id: str) -> bool:
        """True when the next turn of this conversation answers a pending question."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        return (
            conversation is not None
            and conversation.pending is not None
            and self._clock() <= conversation.pending_until
        )

    def take_pending(self, conversation_id: str) -> PendingAction | None:
        """The pending action, removed: the next turn either confirms it or cancels it.

        None when there is none or it has expired."""
        self._expire()
        conversation = self._conversations.get(conversation_id)
        if conversation is None or conversation.pending is None:
            return None
        action, conversation.pending = conversation.pending, None
        return action if self._clock() <= conversation.pending_until else None

    def __len__(self) -> int:
        self._expire()
        return len(self._conversations)
