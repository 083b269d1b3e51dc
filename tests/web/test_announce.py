"""`POST /api/announce`: a message spoken on the named satellite, or on every satellite of an
area, after a chime; the real server's engines, its HTTP server and direct satellites over TCP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from pipeline_helpers import FakeSatellite, TurnResult, app, heard
from wyoming.audio import AudioStart
from wyoming.event import Event
from wyoming_helpers import normalize

from wyoming_rtx.web import WebServer
from wyoming_rtx.web.access import COOKIE_PREFIX

__all__ = ["app"]
TOKEN = "announce-test-token"
module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def web(app) -> AsyncIterator[WebServer]:
    server = WebServer(app, "http://127.0.0.1:0", token=TOKEN)
    await server.start()
    yield server
    await server.stop()


async def _post(web: WebServer, body: object, **headers: str) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {TOKEN}", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{web.port}/api/announce", json=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


async def _heard_message(app, sat: FakeSatellite, timeout: float = 10) -> tuple[str, float]:
    """What the satellite was told to play (ASR of it), and when its first audio came."""
    result = TurnResult()
    first = None
    while True:
        event = await asyncio.wait_for(sat.client.read_event(), timeout)
        assert event is not None
        result.events.append(event)
        if event.type == "audio-chunk" and first is None:
            first = time.monotonic()
        if event.type == "audio-stop":
            break
    await sat.client.write_event(Event(type="played"))
    start = AudioStart.from_event(result.of("audio-start")[0])
    assert first is not None
    return normalize(await heard(app, result.audio, start.rate)), first


async def _silent(sat: FakeSatellite, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sat.client.read_event(), seconds)


@module_loop
async def test_a_named_satellite_speaks_the_message(app, web) -> None:
    """Only the named satellite hears it, within a second of the request here."""
    async with (
        FakeSatellite(app.listener.port, "kitchen-sat", "Kitchen") as kitchen,
        FakeSatellite(app.listener.port, "office-sat", "Office") as office,
    ):
        await asyncio.sleep(0.1)  # both have introduced themselves
        posted = time.monotonic()
        status, body = await _post(
            web, {"message": "The washing machine is done.", "satellite": "kitchen-sat"}
        )
        assert (status, body) == (200, {"announced_on": ["kitchen-sat"]})
        said, first_audio = await _heard_message(app, kitchen)
        assert "washing machine is done" in said, said
        delay = first_audio - posted
        print(f"announcement: first audio at the satellite {delay * 1000:.0f} ms after POST")
        assert delay < 3.0, delay
        await _silent(office)


@module_loop
async def test_an_area_reaches_every_satellite_in_it(app, web) -> None:
    async with (
        FakeSatellite(app.listener.port, "lounge-1", "Living Room") as one,
        FakeSatellite(app.listener.port, "lounge-2", "Living Room") as two,
        FakeSatellite(app.listener.port, "office-sat", "Office") as office,
    ):
        await asyncio.sleep(0.1)
        status, body = await _post(web, {"message": "Dinner is ready.", "area": "living room"})
        assert status == 200 and sorted(body["announced_on"]) == ["lounge-1", "lounge-2"]
        for sat in (one, two):
            said, _ = await _heard_message(app, sat)
            assert "dinner is ready" in said, said
        await _silent(office)


@module_loop
async def test_unknown_targets_are_404_with_what_there_is(app, web) -> None:
    async with FakeSatellite(app.listener.port, "kitchen-sat", "Kitchen"):
        await asyncio.sleep(0.1)
        status, body = await _post(web, {"message": "Hello.", "satellite": "attic"})
        assert status == 404 and "attic" in body["error"] and "kitchen-sat" in body["error"]
        status, body = await _post(web, {"message": "Hello.", "area": "Attic"})
        assert status == 404 and "Kitchen" in body["error"]


@module_loop
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"satellite": "kitchen-sat"}, '"message"'),
        ({"message": "  ", "satellite": "kitchen-sat"}, '"message"'),
        ({"message": "Hi.", "satellite": "kitchen-sat", "area": "Kitchen"}, "exactly one"),
        ({"message": "Hi."}, "exactly one"),
        ({"message": "Hi.", "area": 3}, '"area"'),
        ({"message": "x" * 20_001, "satellite": "kitchen-sat"}, "limit"),
        (["not", "an", "object"], "JSON object"),
    ],
)
async def test_bad_requests_are_400_with_a_sentence(web, body: object, expected: str) -> None:
    status, answer = await _post(web, body)
    assert status == 400 and expected in answer["error"], answer


@module_loop
async def test_only_the_token_holder_may_announce(app, web) -> None:
    """No token: 401. Another site's page (foreign Origin, even with the cookie): 403. A
    form post (not JSON): 415. Nothing is spoken."""
    async with FakeSatellite(app.listener.port, "kitchen-sat", "Kitchen") as kitchen:
        await asyncio.sleep(0.1)
        body = {"message": "Open the door.", "satellite": "kitchen-sat"}
        url = f"http://127.0.0.1:{web.port}/api/announce"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=body) as response:
                assert response.status == 401
            cookie = {"Cookie": f"{COOKIE_PREFIX}{web.port}={TOKEN}"}
            async with session.post(
                url, json=body, headers={**cookie, "Origin": "http://evil.example"}
            ) as response:
                assert response.status == 403
            async with session.post(
                url,
                data="message=Open+the+door.&satellite=kitchen-sat",
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
            ) as response:
                assert response.status == 415
        await _silent(kitchen)
