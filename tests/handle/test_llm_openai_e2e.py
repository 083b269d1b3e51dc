"""Issue 22, point 6, through the real server over Wyoming TCP, as Home Assistant asks.

`python -m wyoming_rtx --llm-url http://127.0.0.1:PORT/v1 --llm-model x` runs as a subprocess
with the demo home and the key in WYOMING_RTX_LLM_API_KEY; the fake OpenAI-compatible server in
this process requires `Authorization: Bearer <key>` and streams a tool call in fragments.
"""

from __future__ import annotations

import json
import time

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled, HandledChunk
from wyoming.info import Describe, Info
from wyoming_helpers import read_until, start_server

from tests.fakes import FakeOpenAi

KEY = "sk-e2e-secret-4242"


@pytest.mark.timeout(240)
async def test_the_real_server_answers_with_a_tool_call_through_an_openai_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WYOMING_RTX_LLM_API_KEY", KEY)
    async with FakeOpenAi(models=("x",), api_key=KEY) as fake:
        server = await start_server(
            "--llm-url",
            fake.url,
            "--llm-model",
            "x",
            "--llm-timeout",
            "20",
            "--llm-first-token-timeout",
            "20",
        )
        try:
            fake.queue_reply(tool_calls=[("turn_on", {"name": "Kitchen Light"})])
            fake.queue_reply("The kitchen light is on now.")
            fake.token_delay = 0.02
            started = time.monotonic()
            async with AsyncTcpClient("127.0.0.1", server.port) as client:
                context = {"conversation_id": "e2e-openai"}
                transcript = Transcript(
                    text="it is too dark to cook", language="en", context=context
                )
                await client.write_event(transcript.event())
                events = await read_until(client, "handled", "not-handled", timeout=30)
            elapsed = time.monotonic() - started
            answer = Handled.from_event(events[-1])
            assert answer.text == "The kitchen light is on now."
            chunks = [HandledChunk.from_event(e).text for e in events if e.type == "handled-chunk"]
            assert len(chunks) > 1 and "".join(chunks).strip() == answer.text, "streamed"
            assert elapsed < 5.0, elapsed
            assert [h.get("Authorization") for h in fake.headers] == [f"Bearer {KEY}"] * 2
            tools = [m for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
            assert json.loads(tools[0]["content"])["states"] == {"Kitchen Light": "on"}
            assert KEY not in "\n".join(server.log), "the key is never logged"
            async with AsyncTcpClient("127.0.0.1", server.port) as client:
                await client.write_event(Describe().event())
                info = Info.from_event((await read_until(client, "info"))[-1])
            (handle,) = info.handle
            assert handle.description == "Local Home Assistant intents first, then an LLM"
            assert handle.models[0].description.endswith(", LLM x")
        finally:
            assert await server.stop() == 0
