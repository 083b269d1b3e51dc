"""Local fake servers (Ollama, OpenAI-compatible, Home Assistant) shared by the test areas;
127.0.0.1 only."""

from .ha_server import FakeHomeAssistant, ServiceCall
from .ollama_server import FakeOllama, Reply
from .openai_server import FakeOpenAi

__all__ = ["FakeHomeAssistant", "FakeOllama", "FakeOpenAi", "Reply", "ServiceCall"]
