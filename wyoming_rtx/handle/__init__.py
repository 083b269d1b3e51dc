"""Handle: local Home Assistant intents first, then an LLM (Ollama or OpenAI-compatible);
timers; conversations.

Public contract (docs/architecture.md): `HandleRequest`, `Answer`, `Assistant`, `HandleService`.
The home these act on is `wyoming_rtx.home`.
"""

from .assistant import Assistant, build_home
from .intents import IntentMatch, IntentMatcher, UnsupportedLanguageError
from .request import Answer, HandleRequest
from .service import HandleService

__all__ = [
    "Answer",
    "Assistant",
    "HandleRequest",
    "HandleService",
    "IntentMatch",
    "IntentMatcher",
    "UnsupportedLanguageError",
    "build_home",
]
