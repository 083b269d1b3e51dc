"""The request and answer types shared by the handle service and the satellite pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandleRequest:
    """One thing the user said, with where it came from."""

    text: str
    conversation_id: str | None = None
    """HA's conversation id (or the pipeline's); None starts a new conversation."""
    language: str | None = None
    area: str | None = None
    """The speaking satellite's area name: "turn on the lights" means this area's lights."""
    satellite_id: str | None = None
    """Satellite (or device) id; its area is looked up in the home when `area` is None."""


@dataclass(frozen=True)
class Answer:
    """The final answer to a request (after any streamed deltas)."""

    text: str
    """What to say (may be empty, e.g. for "never mind")."""
    handled: bool
    """True when the request was done or answered; False for failures and non-understanding."""
    source: str
    """local | llm | none | error."""
    intent: str | None = None
    """The local intent that answered (HassTurnOn, ...), if any."""
    conversation_id: str | None = None
    """The conversation this turn belongs to (new when the request had none)."""

    @property
    def asks_back(self) -> bool:
        """The answer ends in a question ("Which room?", "Do you want me to unlock the Front
        Door?", an LLM's question): the speaker is expected to reply without the wake word."""
        return self.text.rstrip().endswith(("?", "？", "¿"))
