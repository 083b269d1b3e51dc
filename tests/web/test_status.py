"""Status facts that need I/O: Ollama reachability and GPU memory from nvidia-smi."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.web.helpers import build_app
from wyoming_rtx.settings import HandleSettings
from wyoming_rtx.web.app import status_sources
from wyoming_rtx.web.status import StatusCollector, public_url, query_nvidia_smi


async def test_ollama_reachability_is_probed() -> None:
    async def version(_: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.1"})

    fake = web.Application()
    fake.router.add_get("/api/version", version)
    async with TestServer(fake) as ollama:
        url = str(ollama.make_url("/"))
        app = build_app(HandleSettings(ollama_url=url))
        collector = StatusCollector(status_sources(app), probe_interval=60)
        await collector.start()
        try:
            await collector.refresh()
            up = collector.reachability()["ollama"]
            assert (up["reachable"], up["version"], up["model"]) == (True, "0.12.1", "llama3.2")
        finally:
            await collector.stop()
    app = build_app(HandleSettings(ollama_url=url))  # that server is closed now
    collector = StatusCollector(status_sources(app), probe_interval=60)
    await collector.start()
    try:
        await collector.refresh()
        assert collector.reachability()["ollama"]["reachable"] is False
    finally:
        await collector.stop()


async def test_gpu_memory_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 1234'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert await query_nvidia_smi() == [
        {"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "memory_used_mib": 1234}
    ]


def test_public_url_drops_credentials() -> None:
    assert public_url("http://u:p@ha.local:8123/x?token=1#f") == "http://ha.local:8123/x"
    assert public_url(None) is None and public_url("not a url") is None
