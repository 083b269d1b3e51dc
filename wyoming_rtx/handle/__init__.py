"""Handle: local Home Assistant intents first, then Ollama; the home (HA or a file); timers.

Public contract (docs/architecture.md): `HandleRequest`, `Answer`, `Assistant`, `HandleService`.
"""

from .assistant import Assistant, build_home
from .home import Area, Entity, Floor, Home, HomeSnapshot, HomeUnavailableError
from .home_assistant import HomeAssistantHome
from .home_file import FileHome, HomeFileError
from .intents import IntentMatch, IntentMatcher, UnsupportedLanguageError
from .request import Answer, HandleRequest
from .service import HandleService

__all__ = [
    "Answer",
    "Area",
    "Assistant",
    "Entity",
    "FileHome",
    "Floor",
    "HandleRequest",
    "HandleService",
    "Home",
    "HomeAssistantHome",
    "HomeFileError",
    "HomeSnapshot",
    "HomeUnavailableError",
    "IntentMatch",
    "IntentMatcher",
    "UnsupportedLanguageError",
    "build_home",
]
