"""Home Assistant's three requests, sent exactly as its Assist pipeline sends them, show up as
one turn each: on the status page with stage times, in the log, and in /metrics.

The real server runs as a subprocess with the bundled models and the demo home; the client
side follows homeassistant/components/wyoming (stt.py, conversation.py, tts.py): a fresh
connection per request, `transcribe` + 10 ms chunks at real-time pace ending 0.7 s after the
speech, then `transcript{text, context:{conversation_id}}`, then `synthesize` (or the streaming
`synthesize-start` / `-chunk` / compatibility `synthesize` / `-stop`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest
from aiohttp import ClientSession
from pipeline_helpers import speech
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled, NotHandled
from wyoming_helpers import (
    free_port,
    read_until,
    read_wav,
    start_server,
    synthesize,
    to_16k_mono,
    transcribe,
)

DATA = Path(__file__).resolve().parent.parent / "data"


async def converse(port: int, text: str, conversation_id: str) -> Handled | NotHandled:
    """HA's conversation exchange: one `transcript` with its context, read until the answer."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        context = {"conversation_id": conversation_id}
        await client.write_event(Transcript(text=text, language="en", context=context).event())
        events = await read_until(client, "handled", "not-handled")
    last = events[-1]
    return Handled.from_event(last) if last.type == "handled" else NotHandled.from_event(last)


def until_last_word(pcm: bytes) -> bytes:
    """16-bit audio cut 30 ms after its last loud sample: speech that ends at audio-stop."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 800)
    return samples[: loud[-1] + 480].tobytes()


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition, whatever order its labels are written in."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels}")


@pytest.mark.timeout(240)
async def test_home_assistant_requests_are_recorded_as_turns() -> None:
    http_port = free_port()
    server = await start_server("--http-uri", f"http://127.0.0.1:{http_port}")
    try:
        pcm, rate, width, channels = read_wav(DATA / "living_room_light_en.wav")
        pcm = to_16k_mono(pcm, rate, channels)
        # A good turn: speech, a local command, its answer spoken (non-streaming).
        heard = await transcribe(server.port, pcm, 16000, 2, 1, realtime=True, trailing_silence=0.7)
        assert "living room" in heard.text.lower()
        answer = await converse(server.port, heard.text, "01HAGOOD")
        assert isinstance(answer, Handled), answer
        spoken = await synthesize(server.port, answer.text)
        assert spoken.pcm

        # A failed turn, typed: an area the home does not have; the answer streams.
        failed = await converse(server.port, "turn on the attic light", "01HABAD")
        assert isinstance(failed, NotHandled), failed
        await synthesize(server.port, failed.text, streaming=True)

        # A lone announcement: speech with no turn before it.
        await synthesize(server.port, "The washing machine has finished.")

        async with ClientSession() as session:
            base = f"http://127.0.0.1:{http_port}"
            for _ in range(50):  # the speech request ends its turn as its audio-stop is sent
                async with session.get(f"{base}/api/status") as response:
                    status = await response.json()
                if len(status["turns"]) >= 3:
                    break
                await asyncio.sleep(0.1)
            async with session.get(f"{base}/metrics") as response:
                metrics = await response.text()
    finally:
        await server.stop()

    turns = {turn["conversation_id"] or turn["answer"]: turn for turn in status["turns"]}
    assert len(status["turns"]) == 3, status["turns"]
    good = turns["01HAGOOD"]
    assert good["entry"] == "home-assistant"
    assert good["outcome"] == "done" and good["source"] == "local"
    assert good["transcript"] == heard.text and good["answer"] == answer.text
    assert good["requests"] == {"asr": "ok", "handle": "ok", "tts": "ok"}
    ms = good["ms_after_end_of_speech"]
    assert good["clock"] == "end_of_speech" and ms["end_of_speech"] == 0
    order = ["transcript", "handle_start", "answer_text", "tts_start", "first_audio", "last_audio"]
    assert [ms[stage] for stage in order] == sorted(ms[stage] for stage in order)
    assert ms["audio_start"] < -1000  # the speech itself came before its end
    assert set(good["stage_ms"]) == {"asr", "handle", "tts"}

    bad = turns["01HABAD"]
    assert bad["outcome"] == "not-handled", bad
    assert bad["clock"] == "handle_start" and "end_of_speech" not in bad["ms_after_end_of_speech"]
    assert bad["requests"] == {"handle": "ok", "tts": "ok"}
    lone = turns["The washing machine has finished."]
    assert lone["requests"] == {"tts": "ok"} and lone["outcome"] == "done"

    def requests(service: str) -> float:
        return metric(
            metrics,
            "wyoming_rtx_requests_total",
            service=service,
            entry="home-assistant",
            outcome="ok",
        )

    assert (requests("asr"), requests("handle"), requests("tts")) == (1, 2, 3)
    stage = "wyoming_rtx_turn_stage_seconds_count"
    assert metric(metrics, stage, stage="first_audio", entry="home-assistant") == 1
    seconds = "wyoming_rtx_request_seconds_count"
    assert metric(metrics, seconds, service="tts", entry="home-assistant") == 3
    log = "\n".join(server.log)
    assert re.search(r"Turn \d+ home-assistant .* done \(local\)", log), log
    assert re.search(r"Turn \d+ home-assistant .* not-handled", log), log


@pytest.mark.asyncio(loop_scope="module")
async def test_home_assistant_requests_take_the_direct_turns_fast_paths(app) -> None:
    """A transcription paced as Home Assistant sends it, whose decode comes after audio-stop
    (no silence to decode in), keeps the fast short-window text of a local command, as a
    direct turn does; a question is decoded again with the full window; a file sent in one
    burst goes straight to the full window; a repeated answer comes from the speech cache."""
    port = app.listener.port
    kept, redone = app.asr.command_window_kept, app.asr.command_window_redone
    pcm, rate, _width, channels = read_wav(DATA / "living_room_light_en.wav")
    command = until_last_word(to_16k_mono(pcm, rate, channels))
    heard = await transcribe(port, command, 16000, 2, 1, realtime=True)
    assert "living room light" in heard.text.lower()
    assert app.asr.command_window_kept == kept + 1
    question = until_last_word(await speech(app, "What is the tallest mountain in the world?"))
    await transcribe(port, question, 16000, 2, 1, realtime=True)
    assert app.asr.command_window_redone == redone + 1
    await transcribe(port, question, 16000, 2, 1)  # in one burst, as a file client sends it
    assert (app.asr.command_window_kept, app.asr.command_window_redone) == (kept + 1, redone + 1)

    hits = app.tts.cache.hits
    first = await synthesize(port, "Turned on the kitchen light.")
    again = await synthesize(port, "Turned on the kitchen light.")
    assert again.pcm == first.pcm
    assert app.tts.cache.hits > hits


@pytest.mark.asyncio(loop_scope="module")
async def test_a_broken_recorder_never_costs_home_assistant_its_answer(
    app, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant waits forever for an answer that never comes: recording the turn is
    bookkeeping beside each request, so a failure in it is logged and the answer still goes."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("recorder broke")

    monkeypatch.setattr(app.traces, "request_done", broken)
    monkeypatch.setattr(app.traces, "finish", broken)
    port = app.listener.port
    pcm, rate, _width, channels = read_wav(DATA / "living_room_light_en.wav")
    heard = await transcribe(port, to_16k_mono(pcm, rate, channels), 16000, 2, 1)
    assert "living room light" in heard.text.lower()
    answer = await converse(port, heard.text, "01HABROKEN")
    assert isinstance(answer, Handled)
    spoken = await synthesize(port, answer.text)
    assert spoken.pcm
    streamed = await synthesize(port, answer.text, streaming=True)
    assert streamed.pcm
    assert "Recording" in caplog.text and "recorder broke" in caplog.text
