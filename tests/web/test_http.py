"""The HTTP surface without models: /healthz, /metrics, status JSON, token, ingress, origin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer

from tests.web.helpers import build_app
from wyoming_rtx.app import App
from wyoming_rtx.pipeline.trace import TurnTrace
from wyoming_rtx.settings import HandleSettings
from wyoming_rtx.web import INGRESS_PROXY, WebServer

SECRET = "ha-secret-token-0123456789"
PASSWORD = "hunter2pw"

ClientFactory = Callable[..., AsyncIterator[TestClient]]


@pytest.fixture
def app() -> App:
    return build_app(
        HandleSettings(
            ha_url=f"http://admin:{PASSWORD}@homeassistant.local:8123/?x=1",
            ha_token=SECRET,
            ollama_url="http://127.0.0.1:9",
        )
    )


@pytest.fixture
async def make_client(app: App) -> AsyncIterator[Callable[..., object]]:
    """Start a WebServer's aiohttp app on a test server; close everything afterwards."""
    opened: list[tuple[WebServer, TestClient]] = []

    async def make(**options: object) -> TestClient:
        server = WebServer(app, "http://127.0.0.1:0", **options)  # type: ignore[arg-type]
        client = TestClient(TestServer(server.web_app))
        await client.start_server()
        opened.append((server, client))
        return client

    yield make
    for server, client in opened:
        await client.close()
        await server.stop()


def finish_turn(app: App, first_audio: float, outcome: str = "done", source: str = "local") -> None:
    """A finished turn as the pipeline records it (stage marks relative to end of speech)."""
    traces = app.pipeline.traces
    trace: TurnTrace = traces.start("kitchen-pi", "Kitchen")
    trace.mark("audio_start", 100.0)
    trace.mark("end_of_speech", 101.5)
    trace.mark("transcript", 101.5 + first_audio / 3)
    trace.mark("answer_text", 101.5 + first_audio / 2)
    trace.mark("first_audio", 101.5 + first_audio)
    trace.transcript, trace.answer, trace.source = "turn on the kitchen light", "Turned on", source
    traces.finish(trace, outcome, "boom" if outcome == "error" else None)


async def test_healthz_follows_model_loading(make_client, app: App) -> None:
    client = await make_client(token="t0ken")
    response = await client.get("/healthz")  # open even with a token: a probe has none
    assert response.status == 503
    assert await response.json() == {"ready": False}
    app.ready.set()
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"ready": True}


LINE = re.compile(r'^([a-z_]+)(\{([a-z_]+="[^"]*",?)*\})? (-?[0-9.e+]+|\+Inf)$')


def parse_metrics(text: str) -> dict[str, float]:
    """Every sample line, keyed by name+labels; the format is checked line by line."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = LINE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", match.group(1))
        assert match.group(1) in typed or base in typed, f"no TYPE for {line!r}"
        key, value = line.rsplit(" ", 1)
        name, _, labels = key.partition("{")
        pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)
        samples[series(name, **dict(pairs))] = float(value)
    return samples


def series(name: str, **labels: str) -> str:
    """A sample's key with its labels in one order, whatever order the exposition used."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


async def test_metrics_after_turns(make_client, app: App) -> None:
    client = await make_client()
    finish_turn(app, first_audio=0.25)
    finish_turn(app, first_audio=1.2)
    finish_turn(app, first_audio=0.6, outcome="error", source="error")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = parse_metrics(await response.text())

    stage = "wyoming_rtx_turn_stage_seconds"
    first = {"stage": "first_audio", "entry": "satellite"}
    assert samples[series(f"{stage}_count", **first)] == 3
    assert samples[series(f"{stage}_sum", **first)] == pytest.approx(2.05)
    assert samples[series(f"{stage}_bucket", **first, le="0.3")] == 1
    assert samples[series(f"{stage}_bucket", **first, le="0.7")] == 2
    assert samples[series(f"{stage}_bucket", **first, le="1.5")] == 3
    assert samples[series(f"{stage}_bucket", **first, le="+Inf")] == 3
    assert samples[series(f"{stage}_count", stage="last_audio", entry="satellite")] == 0
    assert samples[series(f"{stage}_count", stage="first_audio", entry="home-assistant")] == 0
    prefix = series(f"{stage}_bucket", entry="satellite", le="")[:-5]
    buckets = [v for k, v in samples.items() if k.startswith(prefix) and 'stage="transcript"' in k]
    assert buckets == sorted(buckets) and len(buckets) == 13
    turns = "wyoming_rtx_turns_total"
    assert samples[series(turns, entry="satellite", outcome="done", source="local")] == 2
    assert samples[series(turns, entry="satellite", outcome="error", source="error")] == 1
    for service in ("asr", "handle", "tts"):  # every series is there from the start
        ok = series(
            "wyoming_rtx_requests_total", service=service, entry="home-assistant", outcome="ok"
        )
        assert samples[ok] == 0
    assert samples["wyoming_rtx_turn_errors_total"] == 1
    assert samples["wyoming_rtx_ready"] == 0
    assert samples["wyoming_rtx_satellites_connected"] == 0
    # This test process's own resident memory: a real reading, not a placeholder.
    assert 20 * 2**20 < samples["wyoming_rtx_resident_memory_bytes"] < 64 * 2**30


async def test_status_json_shows_the_server_and_no_secret(make_client, app: App) -> None:
    client = await make_client()
    finish_turn(app, first_audio=0.3)
    response = await client.get("/api/status")
    assert response.status == 200
    body = await response.text()
    assert SECRET not in body and PASSWORD not in body and "admin" not in body
    status = await response.json()
    assert status["models"]["asr"]["name"] == "tiny.en"
    assert status["models"]["tts"]["voice"] == "en_US-joe-medium"
    assert status["device"] == {"kind": "cpu", "gpus": []}
    kinds = {service["kind"]: service for service in status["services"]}
    assert kinds["asr"]["models"] == ["tiny.en"] and kinds["tts"]["models"] == ["en_US-joe-medium"]
    assert "handle" in kinds
    home = status["reachability"]["home"]
    assert home == {
        "kind": "home-assistant",
        "url": "http://homeassistant.local:8123/",
        "available": False,
    }
    assert status["reachability"]["ollama"]["configured"] is True
    [turn] = status["turns"]
    assert turn["transcript"] == "turn on the kitchen light"
    assert turn["ms_after_end_of_speech"]["first_audio"] == 300.0
    assert turn["ms_after_end_of_speech"]["audio_start"] == -1500.0
    for path in ("/", "/metrics", "/static/app.js"):
        text = await (await client.get(path)).text()
        assert SECRET not in text and PASSWORD not in text


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({}, 401),
        ({"params": {"token": "wrong"}}, 401),
        ({"headers": {"Authorization": "Bearer wrong"}}, 401),
        ({"params": {"token": "s3cret"}}, 200),
        ({"headers": {"Authorization": "Bearer s3cret"}}, 200),
        ({"headers": {"X-Access-Token": "s3cret"}}, 200),
    ],
)
async def test_token_guards_page_data_and_metrics(make_client, how: dict, expected: int) -> None:
    client = await make_client(token="s3cret")
    for path in ("/", "/api/status", "/metrics"):
        response = await client.get(path, **how)
        assert response.status == expected, path
    assert (await client.get("/static/style.css")).status == 200  # code, not data


@pytest.mark.parametrize("path", ["/api/events", "/api/satellite"])
async def test_websockets_need_the_token_and_the_same_origin(make_client, path: str) -> None:
    client = await make_client(token="s3cret")
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(path)
    assert refused.value.status == 401
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(
            path, params={"token": "s3cret"}, headers={"Origin": "http://evil.example"}
        )
    assert refused.value.status == 403
    origin = f"http://{client.host}:{client.port}"
    ws = await client.ws_connect(path, params={"token": "s3cret"}, headers={"Origin": origin})
    await ws.close()
    ws = await client.ws_connect(path, params={"token": "s3cret"})  # a program: no Origin
    await ws.close()
    cookie = {"Cookie": f"wyoming_rtx_token_{client.port}=s3cret"}
    with pytest.raises(WSServerHandshakeError) as refused:  # no Origin, token only ambient
        await client.ws_connect(path, headers=cookie)
    assert refused.value.status == 403
    ws = await client.ws_connect(path, headers={**cookie, "Origin": origin})  # the page
    await ws.close()


@pytest.mark.parametrize("path", ["/api/events", "/api/satellite"])
async def test_loopback_websockets_refuse_other_origins(make_client, path: str) -> None:
    """No token on loopback, yet another site's page in a local browser gets nowhere."""
    client = await make_client()
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(path, headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    ws = await client.ws_connect(path)  # a local program
    await ws.close()


async def test_loopback_page_answers_only_to_loopback_names(make_client) -> None:
    """DNS rebinding: a site whose name now resolves to 127.0.0.1 is refused by its Host."""
    client = await make_client()
    for host in ("evil.example", f"evil.example:{client.port}", "192.168.1.5"):
        for path in ("/", "/api/status", "/healthz"):
            response = await client.get(path, headers={"Host": host})
            assert response.status == 403, (host, path)
    for host in (f"localhost:{client.port}", f"127.0.0.1:{client.port}", "[::1]", "127.1.2.3"):
        assert (await client.get("/api/status", headers={"Host": host})).status == 200, host
    guarded = await make_client(token="s3cret")  # the token guards it instead (reverse proxy)
    response = await guarded.get("/api/status", headers={"Host": "voice.example.org"})
    assert response.status == 401


async def test_lan_server_is_never_open_before_its_token_is_made(app: App) -> None:
    """A WebServer bound beyond loopback answers 401 until prepare() has made its token."""
    server = WebServer(app, "http://0.0.0.0:0")
    client = TestClient(TestServer(server.web_app))
    await client.start_server()
    try:
        assert (await client.get("/api/status")).status == 401
        with pytest.raises(WSServerHandshakeError):
            await client.ws_connect("/api/satellite")
    finally:
        await client.close()
        await server.stop()


async def test_page_opened_with_the_token_sets_a_cookie(make_client) -> None:
    client = await make_client(token="s3cret")
    response = await client.get("/", params={"token": "s3cret"})
    assert response.status == 200
    morsel = response.cookies[f"wyoming_rtx_token_{client.port}"]
    assert morsel.value == "s3cret"
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    bearer = await client.get("/", headers={"Authorization": "Bearer s3cret"})
    assert "Set-Cookie" not in bearer.headers  # a program, not a browser: nothing to remember


async def test_live_updates_send_status_then_turns(make_client, app: App) -> None:
    client = await make_client(live_interval=30.0)
    ws = await client.ws_connect("/api/events")
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "status" and first["status"]["turns"] == []
    finish_turn(app, first_audio=0.4)
    message = await ws.receive_json(timeout=5)
    assert message["type"] == "turn"
    assert message["turn"]["ms_after_end_of_speech"]["first_audio"] == 400.0
    refreshed = await ws.receive_json(timeout=5)
    assert refreshed["type"] == "status" and len(refreshed["status"]["turns"]) == 1
    await ws.close()


async def test_ingress_prefix_and_relative_urls(make_client) -> None:
    client = await make_client()
    plain = await (await client.get("/")).text()
    assert "<base" not in plain
    urls = re.findall(r'(?:src|href)="([^"]*)"', plain)
    assert urls and all(not url.startswith(("/", "http")) for url in urls), urls
    for url in urls:
        if url.startswith("static/"):
            assert (await client.get("/" + url)).status == 200, url
    for name in ("app.js", "talk.js", "waterfall.js"):
        script = await (await client.get(f"/static/{name}")).text()
        assert not re.search(r"""["'`]/(api|static)/""", script), name

    ingress = "/api/hassio_ingress/AbC123-xyz"
    page = await (await client.get("/", headers={"X-Ingress-Path": ingress})).text()
    assert f'<base href="{ingress}/">' in page
    hostile = await (await client.get("/", headers={"X-Ingress-Path": '/x"><script>'})).text()
    assert "<base" not in hostile


async def test_add_on_serves_only_the_ingress_proxy(make_client) -> None:
    proxied = await make_client(trusted_proxies=(INGRESS_PROXY,))
    assert (await proxied.get("/")).status == 403
    assert (await proxied.get("/healthz")).status == 403
    local = await make_client(trusted_proxies=("127.0.0.1",))
    assert (await local.get("/")).status == 200


def test_http_uri_gives_the_bind_address() -> None:
    from wyoming_rtx.web import parse_http_uri

    assert parse_http_uri("http://0.0.0.0:10901") == ("0.0.0.0", 10901)
    assert parse_http_uri("http://127.0.0.1") == ("127.0.0.1", 10901)
    with pytest.raises(ValueError):
        parse_http_uri("tcp://0.0.0.0:10901")


async def test_bound_before_ready_and_closed_after(app: App) -> None:
    server = WebServer(app, "http://127.0.0.1:0")
    await server.start()
    try:
        assert server.port != 0
        from aiohttp import ClientSession

        async with ClientSession() as session, session.get(server.url + "healthz") as response:
            assert response.status == 503
    finally:
        await server.stop()
    with pytest.raises(OSError):
        async with ClientSession() as session:
            await session.get(server.url + "healthz")
