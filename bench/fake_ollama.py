"""A local Ollama-API test server that streams a fixed answer at a fixed token rate.

Why: the LLM turn must be comparable run to run and machine to machine, so the "LLM" is a clock,
not a model: first token after ``first_token_s``, then one word every ``1 / tokens_per_s``. It
speaks the part of the API the ``ollama`` client uses (``POST /api/chat`` NDJSON stream, plus
``/api/tags``, ``/api/version``, ``/api/show`` and ``/api/generate`` for keep-alive preloads),
listens on 127.0.0.1 only, and counts chat requests so the benchmark can tell a local answer
from an LLM one.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "The capital of France is Paris. It has been the capital for more than a thousand years."
MAX_BODY_BYTES = 4 * 1024 * 1024


class FakeOllama:
    """Start with ``start()``, stop with ``stop()``; ``url`` is its base URL."""

    def __init__(
        self, *, model: str = "bench", tokens_per_s: float = 30.0, first_token_s: float = 0.15
    ) -> None:
        self.model = model
        self.tokens_per_s = tokens_per_s
        self.first_token_s = first_token_s
        self.chat_requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ollama",
                                        kwargs={"poll_interval": 0.2}, daemon=True)  # fmt: skip

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> None:
        """Serve in a thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (bounded wait)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def _count_chat(self) -> None:
        with self._lock:
            self.chat_requests += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return  # the benchmark's own log is enough

            def _body(self) -> dict:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                raw = self.rfile.read(length) if length else b""
                try:
                    return dict(json.loads(raw or b"{}"))
                except (ValueError, TypeError):
                    return {}

            def _json(self, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/api/tags"):
                    self._json({"models": [{"name": fake.model, "model": fake.model}]})
                elif self.path.startswith("/api/version"):
                    self._json({"version": "0.0.0-bench"})
                else:
                    self._json({"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                if self.path.startswith("/api/chat") and body.get("stream", True):
                    fake._count_chat()
                    try:
                        self._stream_chat()
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client closed the stream (a draft answer dropped), as Ollama
                        # sees when a request is cancelled: not an error of the bench
                elif self.path.startswith("/api/chat"):
                    fake._count_chat()
                    time.sleep(fake.first_token_s + len(ANSWER.split()) / fake.tokens_per_s)
                    self._json(_message(fake.model, ANSWER, done=True))
                elif self.path.startswith("/api/show"):
                    self._json({"details": {"family": "bench"}, "model_info": {}})
                else:  # /api/generate (preload), /api/pull, anything else: done at once
                    self._json({"model": fake.model, "done": True, "response": ""})

            def _stream_chat(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                words = ANSWER.split(" ")
                time.sleep(fake.first_token_s)
                for i, word in enumerate(words):
                    text = word if i == 0 else " " + word
                    self._chunk(_message(fake.model, text, done=False))
                    time.sleep(1 / fake.tokens_per_s)
                self._chunk(_message(fake.model, "", done=True))
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, payload: dict) -> None:
                data = json.dumps(payload).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _message(model: str, content: str, *, done: bool) -> dict:
    """One chat response line as Ollama writes it."""
    line: dict = {
        "model": model,
        "created_at": datetime.now(UTC).isoformat(),
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        line.update({"done_reason": "stop", "total_duration": 0, "eval_count": 0})
    return line
