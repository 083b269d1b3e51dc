"""HA's exact conversation exchange over a real TCP Wyoming connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, NotHandled
from wyoming.intent import Intent, NotRecognized
from wyoming.server import AsyncEventHandler, AsyncServer

from tests.fakes import FakeOllama
from wyoming_rtx.handle import Assistant, HandleService, IntentMatcher
from wyoming_rtx.settings import HandleSettings


class _Handler(AsyncEventHandler):
    """Minimal stand-in for the real server's dispatcher: transcript -> HandleService."""

    def __init__(self, service: HandleService, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.service = service

    async def handle_event(self, event: Event) -> bool:
        if Transcript.is_type(event.type):
            await self.service.on_transcript(Transcript.from_event(event), self.write_event)
        return True


ServeFactory = Callable[[HandleSettings], "asyncio.Future[tuple[str, int, Assistant]]"]


@pytest.fixture
async def serve(en_matcher: IntentMatcher) -> AsyncIterator[Callable]:
    started: list[tuple[AsyncServer, Assistant]] = []

    async def _serve(settings: HandleSettings) -> tuple[int, Assistant]:
        assistant = Assistant(settings, matcher=en_matcher)
        await assistant.start()
        server = AsyncServer.from_uri("tcp://127.0.0.1:0")
        service = HandleService(assistant, settings)
        await server.start(partial(_Handler, service))
        started.append((server, assistant))
        port = server._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return port, assistant

    yield _serve
    for server, assistant in started:
        await server.stop()
        await assistant.stop()


async def _ha_exchange(port: int, text: str, conversation_id: str) -> list[Event]:
    """What homeassistant/components/wyoming/conversation.py does, event for event."""
    events: list[Event] = []
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            Transcript(
                text,
                context={
                    "conversation_id": conversation_id,
                    "device_id": "dev1",
                    "satellite_id": "assist_satellite.kitchen",
                },
                language="en",
            ).event()
        )
        while True:
            event = await asyncio.wait_for(client.read_event(), 5)
            assert event is not None, "connection lost before a terminal event"
            events.append(event)
            if event.type in ("handled", "not-handled", "intent", "not-recognized", "error"):
                return events


async def test_handled_exchange(serve: Callable) -> None:
    port, assistant = await serve(HandleSettings())
    events = await _ha_exchange(port, "turn on the kitchen light", "01HXYZ")
    assert [e.type for e in events] == ["handled"]
    handled = Handled.from_event(events[0])
    assert handled.text == "Turned on the light"
    assert handled.context is not None and handled.context["conversation_id"] == "01HXYZ"
    assert assistant.home.snapshot.entities["light.kitchen_light"].state == "on"


async def test_not_handled_exchange(serve: Callable) -> None:
    port, _ = await serve(HandleSettings())
    events = await _ha_exchange(port, "what is the meaning of life", "c1")
    assert [e.type for e in events] == ["not-handled"]
    assert "turn devices on or off" in (NotHandled.from_event(events[0]).text or "")


async def test_intent_mode_sends_entity_names_for_ha_to_execute(serve: Callable) -> None:
    settings = HandleSettings(reply_mode="intent")
    port, assistant = await serve(settings)
    service = HandleService(assistant, settings)
    handles, intents = service.info_sections()
    assert handles[0].supports_home_control and intents and intents[0].installed
    events = await _ha_exchange(port, "set the kitchen light to 50%", "c2")
    intent = Intent.from_event(events[-1])
    assert intent.name == "HassLightSet"
    assert {e.name: e.value for e in intent.entities} == {"name": "Kitchen Light", "brightness": 50}
    assert intent.text == "Brightness set"
    # HA executes: our home is untouched.
    assert assistant.home.snapshot.entities["light.kitchen_light"].state == "off"
    events = await _ha_exchange(port, "sing me a song", "c3")
    assert [e.type for e in events] == ["not-recognized"]
    assert NotRecognized.from_event(events[0]).text


async def test_timers_go_back_to_home_assistant_in_handled_mode(serve: Callable) -> None:
    """A timer asked for through Home Assistant is answered with `intent`: HA's Wyoming
    conversation agent runs it with the satellite's device_id, and its timer manager rings
    that satellite. Kept here instead, it would ring nowhere. Other commands stay handled."""
    port, assistant = await serve(HandleSettings())
    events = await _ha_exchange(port, "set a timer for 5 minutes", "t1")
    assert [e.type for e in events] == ["intent"]
    intent = Intent.from_event(events[0])
    assert intent.name == "HassStartTimer"
    assert {e.name: e.value for e in intent.entities} == {"minutes": 5}
    assert intent.context is not None and intent.context["conversation_id"] == "t1"
    assert assistant.timers.timers == []
    for text, name in (
        ("cancel the timer", "HassCancelTimer"),
        ("pause the timer", "HassPauseTimer"),
        ("how much time is left on my timer", "HassTimerStatus"),
    ):
        events = await _ha_exchange(port, text, "t2")
        assert [(e.type, e.data.get("name")) for e in events] == [("intent", name)], text
    events = await _ha_exchange(port, "turn on the kitchen light", "t3")
    assert [e.type for e in events] == ["handled"]


async def test_handled_mode_advertises_no_intent_program(serve: Callable) -> None:
    settings = HandleSettings()
    _, assistant = await serve(settings)
    handles, intents = HandleService(assistant, settings).info_sections()
    assert intents == [] and handles[0].supports_handled_streaming
    assert handles[0].models[0].languages == ["en"]


async def test_llm_answer_streams_then_handled(serve: Callable, fake_ollama: FakeOllama) -> None:
    port, _ = await serve(HandleSettings(ollama_url=fake_ollama.url, llm_timeout=2.0))
    fake_ollama.queue_reply("Sure. Here is a short answer.")
    events: list[Event] = []
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            Transcript("tell me something", context={"conversation_id": "c4"}).event()
        )
        while True:
            event = await asyncio.wait_for(client.read_event(), 5)
            assert event is not None
            events.append(event)
            if event.type == "handled-stop":
                break
    types = [e.type for e in events]
    assert types[0] == "handled-start" and types[-2:] == ["handled", "handled-stop"]
    chunks = "".join(HandledChunk.from_event(e).text for e in events if e.type == "handled-chunk")
    assert chunks == "Sure. Here is a short answer."
    assert Handled.from_event(events[-2]).text == chunks
