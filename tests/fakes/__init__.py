"""Local fake servers (Ollama, Home Assistant) shared by the test areas; 127.0.0.1 only."""

from .ha_server import FakeHomeAssistant, ServiceCall
from .ollama_server import FakeOllama, Reply

__all__ = ["FakeHomeAssistant", "FakeOllama", "Reply", "ServiceCall"]
