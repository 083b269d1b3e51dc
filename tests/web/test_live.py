"""Real turns through the web server: the browser WebSocket protocol, then real Chromium.

One App with the bundled models is started for the module (models load once); the web
server is started beside it, as App.start() does when --http-uri is given.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import ClientSession, WSMsgType

from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, build_app, read_pcm
from wyoming_rtx.app import App
from wyoming_rtx.web import WebServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

ARTIFACTS = Path(__file__).parent.parent / "artifacts"
DOCS_SCREENSHOT = Path(__file__).parent.parent.parent / "docs" / "status-page.png"


class Live:
    def __init__(self, app: App, web: WebServer) -> None:
        self.app = app
        self.web = web


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live() -> AsyncIterator[Live]:
    app = build_app()
    await app.start()
    web = WebServer(app, "http://127.0.0.1:0")
    await web.start()
    try:
        await asyncio.wait_for(app.ready.wait(), 180)
        yield Live(app, web)
    finally:
        await web.stop()
        await app.stop()


async def test_browser_websocket_turn(live: Live, command_wav: Path) -> None:
    """Hello, start, stream the command: transcript, answer, audio, then the turn's timings."""
    pcm = read_pcm(command_wav)
    received: list[str] = []
    audio = bytearray()
    async with ClientSession() as session, session.ws_connect(live.web.url + "api/satellite") as ws:
        await ws.send_json({"type": "hello", "name": "ws test!", "area": "Kitchen"})
        assert await ws.receive_json(timeout=5) == {
            "type": "ready",
            "name": "ws test",
            "area": "Kitchen",
        }
        assert live.app.pipeline.satellites["ws test"].area == "Kitchen"
        await ws.send_json({"type": "start", "mode": "hands-free"})
        assert (await ws.receive_json(timeout=5))["type"] == "listening"

        async def speak() -> None:
            for start in range(0, len(pcm), 1024):  # 32 ms pieces at 4x real time
                await ws.send_bytes(pcm[start : start + 1024])
                await asyncio.sleep(0.008)

        speaker = asyncio.create_task(speak())
        eos_at = first_audio_at = None
        messages: dict[str, dict] = {}
        while "turn" not in messages:
            message = await ws.receive(timeout=30)
            if message.type == WSMsgType.BINARY:
                first_audio_at = first_audio_at or time.monotonic()
                audio += message.data
                received.append("audio") if received[-1] != "audio" else None
                continue
            data = message.json()
            messages[data["type"]] = data
            received.append(data["type"])
            if data["type"] == "end-of-speech":
                eos_at = time.monotonic()
        await speaker
        await ws.send_json({"type": "played"})
        await asyncio.sleep(0.1)

    assert received == [
        "speech-started",
        "end-of-speech",
        "transcript",
        "answer",
        "audio-start",
        "audio",
        "audio-stop",
        "turn",
    ]
    assert "kitchen light" in messages["transcript"]["text"].lower()
    answer = messages["answer"]
    assert answer["handled"] is True and answer["source"] == "local", answer
    assert messages["audio-start"] == {
        "type": "audio-start",
        "rate": 22050,
        "width": 2,
        "channels": 1,
    }
    assert len(audio) > 22050 * 2 * 0.5  # over half a second of speech
    ms = messages["turn"]["turn"]["ms_after_end_of_speech"]
    assert 0 < ms["transcript"] <= ms["answer_text"] <= ms["first_audio"]
    assert eos_at is not None and first_audio_at is not None
    print(
        f"\nWebSocket turn: end of speech -> first audio {ms['first_audio']:.0f} ms (trace), "
        f"{(first_audio_at - eos_at) * 1000:.0f} ms (client)"
    )
    trace = live.app.pipeline.traces.turns[-1]
    assert trace.satellite == "ws test" and "played" in trace.marks
    assert "ws test" not in live.app.pipeline.satellites  # gone with its WebSocket


async def test_browser_stop_without_speech_makes_no_turn(live: Live) -> None:
    turns = len(live.app.pipeline.traces.turns)
    async with ClientSession() as session, session.ws_connect(live.web.url + "api/satellite") as ws:
        await ws.send_json({"type": "start", "mode": "push-to-talk"})
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
        assert (await ws.receive_json(timeout=5))["type"] == "listening"
        await ws.send_bytes(bytes(16000))  # half a second of silence
        await ws.send_json({"type": "stop"})
        assert (await ws.receive_json(timeout=5))["type"] == "no-speech"
        await ws.send_json({"type": "dance"})
        assert (await ws.receive_json(timeout=5))["code"] == "bad-message"
    assert len(live.app.pipeline.traces.turns) == turns


async def test_real_browser_turn(live: Live, command_wav: Path) -> None:
    """Chromium with the command as its microphone: talk, transcript, answer, audio, waterfall."""
    from playwright.async_api import async_playwright, expect

    assert shutil.which(CHROMIUM), "apt-get install chromium chromium-driver (script/setup)"
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={command_wav}%noloop"]
    console: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1100})
            page.on("console", lambda message: console.append(message.text))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            await page.goto(live.web.url)
            services = page.locator("#services li")
            await expect(services).to_have_count(3)
            for kind in ("asr", "tts", "handle"):
                await expect(page.locator(f'#services li[data-kind="{kind}"]')).to_have_count(1)
            await expect(page.locator("#ready")).to_have_text("ready")

            await page.click("#talk")
            transcript = page.locator("#transcript")
            await expect(transcript).to_contain_text(
                "kitchen light", ignore_case=True, timeout=30_000
            )
            await expect(page.locator("#answer")).not_to_have_text("…")
            body = page.locator("body")
            await expect(body).to_have_attribute("data-played", "1", timeout=20_000)
            await page.click("#talk")  # stop listening (hands-free)
            audio_bytes = int(await body.get_attribute("data-audio-bytes") or 0)
            played_ms = int(await body.get_attribute("data-played-ms") or 0)
            browser_ms = int(await body.get_attribute("data-eos-to-first-audio-ms") or -1)
            assert audio_bytes > 22050 * 2 * 0.5, console
            assert played_ms >= audio_bytes / 2 / 22050 * 1000 - 50, (played_ms, audio_bytes)

            turn = page.locator('#turns .turn[data-satellite="browser"][data-outcome="done"]')
            await expect(turn).to_have_count(1, timeout=10_000)
            await expect(turn.locator("svg rect.bar")).to_have_count(5)
            await expect(turn).to_contain_text("Turned on")
            await expect(turn).to_have_attribute("data-played", "true", timeout=10_000)

            trace = live.app.pipeline.traces.turns[-1]
            assert trace.satellite.startswith("browser") and "played" in trace.marks
            server_ms = trace.since_end_of_speech("first_audio")
            assert server_ms is not None
            print(
                f"\nBrowser turn: end of speech -> first audio {server_ms * 1000:.0f} ms (trace), "
                f"{browser_ms} ms (page)"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "status-page.png"
            await page.screenshot(path=str(shot), full_page=True)
            if os.environ.get("UPDATE_DOCS_SCREENSHOT"):  # a test run leaves the tree clean
                shutil.copyfile(shot, DOCS_SCREENSHOT)
        finally:
            await browser.close()
