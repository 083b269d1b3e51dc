"""Direct mode: an answer that asks something (``continue_conversation`` in its context) makes
the satellite listen for the reply without the wake word, once; a plain answer does not. The
server's own side of this is in ``tests/pipeline/test_follow_up.py``; here a scripted server
asks, and the real satellite (openwakeword, silero VAD, direct client) listens."""

from __future__ import annotations

import asyncio
from pathlib import Path

from wyoming.asr import Transcript
from wyoming.audio import AudioStart, AudioStop
from wyoming.event import async_write_event
from wyoming.handle import Handled

from satellite.app import Seams, run_direct
from satellite.core import FOLLOW_UP
from satellite.settings import DirectSettings
from satellite.wake import WakeEngine

from .conftest import QueueMic, read_pcm, wait_for
from .test_direct import FakeServer, _free_port, _settings


class AskingServer(FakeServer):
    """Answers the first turn with a question, every later turn plainly."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.turns = 0

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        self.turns += 1
        asks = self.turns == 1
        text = "Which room?" if asks else "Turned on the lights"
        await async_write_event(Transcript(text="turn on the lights").event(), writer)
        context = {"conversation_id": "satellite-kitchen", "continue_conversation": asks}
        await async_write_event(Handled(text=text, context=context).event(), writer)
        await async_write_event(AudioStart(rate=22050, width=2, channels=1).event(), writer)
        await async_write_event(AudioStop().event(), writer)


async def test_a_question_opens_one_turn_without_the_wake_word(
    tmp_path: Path, fixtures: Path, oww_engine: WakeEngine
) -> None:
    port = _free_port()
    server = AskingServer(port)
    await server.start()
    mic = QueueMic()
    task = asyncio.create_task(
        run_direct(
            _settings(tmp_path),
            DirectSettings(server_uri=f"tcp://127.0.0.1:{port}"),
            Seams(mic_factory=lambda: mic, engine=oww_engine),
        )
    )
    wake_command = read_pcm(fixtures / "wake_command.wav")
    meta_reply = read_pcm(fixtures / "wake_command.wav")[int(1.9 * 16000) * 2 :]
    silence = bytes(16000 * 2)
    try:
        await wait_for(lambda: "info" in server.types())
        mic.feed(wake_command)
        await wait_for(lambda: server.types().count("played") == 1)
        # The reply, without the wake word ("turn on the kitchen light" cut from the fixture).
        mic.feed(meta_reply + silence)
        await wait_for(lambda: server.types().count("played") == 2)
        # The plain answer opens nothing: 6 s of silence bring no third turn.
        mic.feed(silence * 6)
        await wait_for(lambda: mic.queue.empty())
        await asyncio.sleep(0.2)
        mic.end()
        run = await asyncio.wait_for(task, timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    runs = [e for e in server.events if e.type == "run-pipeline"]
    assert [e.data.get("wake_word_name") for e in runs] == ["hey_jarvis", FOLLOW_UP]
    kinds = [(e.kind, e.detail) for e in run.loop.events if e.kind in ("wake", "turn_started")]
    assert kinds == [
        ("wake", "hey_jarvis"),
        ("turn_started", "hey_jarvis"),
        ("turn_started", FOLLOW_UP),
    ]
    ended = [e.detail for e in run.loop.events if e.kind == "turn_ended"]
    assert ended == ["silence", "silence"]
