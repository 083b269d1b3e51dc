"""The home: its entities, areas and floors, from Home Assistant (REST and WebSocket) or from a
home file whose state the server keeps. Intents and LLM tools read and change it through the
one `Home` interface (model.py)."""
