"""The LLM's system prompt and messages, fitted to the model's context (`llm_num_ctx`).

The home's entities are ranked (the satellite's area first, then what people control by
voice) and the lowest-ranked dropped, then the oldest history, by a conservative
characters-per-token estimate, so the LLM server never cuts the system prompt off.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..home.model import Entity, HomeSnapshot
from ..settings import HandleSettings
from .llm_tools import TOOLS

_LOGGER = logging.getLogger(__name__)

MAX_PROMPT_ENTITIES = 150
MIN_PROMPT_ENTITIES = 40
"""Below this many entities in the prompt, the oldest history is dropped to make room."""
CHARS_PER_TOKEN = 3.0
"""Conservative: Llama/Qwen tokenizers average about 4 characters per English token, fewer
for names, numbers and JSON; overestimating only drops a few more entities."""
MESSAGE_OVERHEAD_TOKENS = 4
"""The chat template's role markers around each message."""
DOMAIN_PRIORITY = ("light", "switch", "cover", "climate", "lock", "media_player", "fan")
"""What people control by voice, most common first; other domains come after these."""


_BASE_PROMPT = (
    "You are the voice assistant of a home. Your answers are spoken aloud: reply in one or two "
    "short sentences of plain text, without markdown, lists or emoji. Use the tools to control "
    "or check devices and timers, and never claim to have changed something without calling a "
    "tool. Use device and area names exactly as listed."
)


@dataclass
class PromptStats:
    """What `build_messages` kept, for the log and tests."""

    tokens: int
    """Estimated tokens of the messages and tool schemas (without the reserve)."""
    entities: int
    entities_total: int
    history: int
    history_total: int


def estimate_tokens(text: str) -> int:
    """A conservative token count for `text` (see CHARS_PER_TOKEN)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _message_tokens(message: dict[str, Any]) -> int:
    return estimate_tokens(str(message.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS


TOOLS_TOKENS = estimate_tokens(json.dumps(TOOLS))
"""The tool schemas the server renders into the prompt."""


def reserve_tokens(num_ctx: int) -> int:
    """Room kept free for the answer and up to a few tool calls with their results."""
    return max(256, num_ctx // 4)


def rank_entities(home: HomeSnapshot, area: str | None) -> list[Entity]:
    """The home's entities, most useful for the prompt first: the satellite's area, then the
    domains people control by voice (DOMAIN_PRIORITY order), then the rest, each group in the
    home's order."""
    here = home.area_named(area)

    def key(entity: Entity) -> tuple[int, int]:
        elsewhere = here is None or entity.area_id != here.area_id
        try:
            domain = DOMAIN_PRIORITY.index(entity.domain)
        except ValueError:
            domain = len(DOMAIN_PRIORITY)
        return (int(elsewhere), domain)

    return sorted(home.entities.values(), key=key)


def _entity_line(home: HomeSnapshot, entity: Entity) -> str:
    entity_area = home.entity_area(entity)
    return (
        f"- {entity.name} | {entity_area.name if entity_area else '-'} | "
        f"{entity.domain} {entity.state_with_unit}"
    )


def _head(extra: str | None, area: str | None, now: datetime.datetime) -> list[str]:
    lines = [_BASE_PROMPT, f"It is {now:%A %d %B %Y, %H:%M}."]
    if area:
        lines.append(f"The user is in the {area}; 'here' means the {area}.")
    if extra:
        lines.append(extra.strip())
    lines.append("Devices (name | area | state):")
    return lines


def build_messages(
    settings: HandleSettings,
    home: HomeSnapshot,
    history: Sequence[dict[str, str]],
    text: str,
    area: str | None,
    now: datetime.datetime,
) -> tuple[list[dict[str, Any]], PromptStats]:
    """The chat messages, trimmed so that they, the tool schemas and the reserve for the answer
    fit `llm_num_ctx`: lowest-ranked entities go first; when fewer than MIN_PROMPT_ENTITIES
    would remain, the oldest history turns go too (a recent "turn it off" needs the last turn,
    rarely the twentieth)."""
    head = "\n".join(_head(settings.llm_prompt, area, now))
    ranked = rank_entities(home, area)[:MAX_PROMPT_ENTITIES]
    lines = [_entity_line(home, e) for e in ranked]
    user = {"role": "user", "content": text}
    budget = (
        settings.llm_num_ctx
        - reserve_tokens(settings.llm_num_ctx)
        - TOOLS_TOKENS
        - _message_tokens({"content": head})
        - _message_tokens(user)
    )
    line_costs = [estimate_tokens(line) + 1 for line in lines]  # +1: the newline
    kept_history = list(history)

    def entities_fitting(room: int) -> int:
        count = used = 0
        for cost in line_costs:
            if used + cost > room:
                break
            used += cost
            count += 1
        return count

    while True:
        history_cost = sum(_message_tokens(m) for m in kept_history)
        count = entities_fitting(budget - history_cost)
        if count >= min(MIN_PROMPT_ENTITIES, len(lines)) or not kept_history:
            break
        kept_history = kept_history[2:]  # one user/assistant turn, oldest first
    system = {"role": "system", "content": "\n".join([head, *lines[:count]])}
    messages = [system, *kept_history, user]
    stats = PromptStats(
        tokens=sum(_message_tokens(m) for m in messages) + TOOLS_TOKENS,
        entities=count,
        entities_total=len(home.entities),
        history=len(kept_history),
        history_total=len(history),
    )
    return messages, stats
