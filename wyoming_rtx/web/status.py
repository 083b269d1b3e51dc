"""The status snapshot behind the page: models, device, services, satellites, reachability, turns.

Everything here is read from objects the app already holds, so building a snapshot is cheap
and never blocks. The two facts that need I/O (the LLM server's reachability, GPU memory
from nvidia-smi) are refreshed by one background task and cached. Nothing secret goes in: the HA
token is never read, and URLs lose any user:password part.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from wyoming.info import Info
from yarl import URL

from ..tasks import cancel_and_wait
from ..version import __version__

if TYPE_CHECKING:
    from ..asr.engine import AsrEngine
    from ..handle import Assistant
    from ..pipeline.trace import TraceLog
    from ..pipeline.turn import SatelliteStatus
    from ..tts.engine import TtsEngine

_LOGGER = logging.getLogger(__name__)

MAX_TURNS = 20
"""Turns listed on the page (the TraceLog keeps more, for /metrics they are counted)."""


def public_url(url: str | None) -> str | None:
    """A URL without credentials, query or fragment, safe to show."""
    if not url:
        return None
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if not parsed.host:
        return None
    return str(parsed.with_user(None).with_password(None).with_query(None).with_fragment(None))


async def query_nvidia_smi(timeout: float = 3.0) -> list[dict[str, Any]] | None:
    """GPU name and memory (MiB) per device, or None when nvidia-smi is absent or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            binary,
            "--query-gpu=name,memory.total,memory.used",
            "--format=csv,noheader,nounits",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as err:
        _LOGGER.debug("nvidia-smi did not start: %s", err)
        return None
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    if proc.returncode != 0:
        return None
    gpus = []
    for line in stdout.decode(errors="replace").splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            continue
        name, total, used = parts
        try:
            gpus.append(
                {"name": name, "memory_total_mib": int(total), "memory_used_mib": int(used)}
            )
        except ValueError:
            gpus.append({"name": name})
    return gpus


@dataclass(frozen=True)
class StatusSources:
    """What the page shows, each read from the object that owns it (never from the app)."""

    asr: AsrEngine
    tts: TtsEngine
    assistant: Assistant
    info: Info
    ready: asyncio.Event
    satellites: dict[str, SatelliteStatus]
    traces: TraceLog


class StatusCollector:
    """Builds status snapshots; a background task keeps the I/O-bound facts fresh."""

    def __init__(self, sources: StatusSources, *, probe_interval: float = 15.0) -> None:
        self._sources = sources
        self._interval = probe_interval
        self._started = time.time()
        self._gpus: list[dict[str, Any]] | None = None
        self._llm: dict[str, Any] = {"reachable": None, "version": None, "checked": None}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.browser_clients = 0
        """Connected browser satellites (set by the web server)."""

    async def start(self) -> None:
        """Probe at once in the background (a slow LLM server must not delay start-up), then
        every `probe_interval` s."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0))
        self._task = asyncio.create_task(self._probe_loop(), name="status probes")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _probe_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                _LOGGER.exception("Status probe failed")
            await asyncio.sleep(self._interval)

    async def refresh(self) -> None:
        """GPU memory and the LLM server's reachability, concurrently."""
        await asyncio.gather(self._refresh_gpus(), self._refresh_llm())

    async def _refresh_gpus(self) -> None:
        if self._sources.asr.device == "cuda" or self._sources.tts.settings.device != "cpu":
            self._gpus = await query_nvidia_smi()

    async def _refresh_llm(self) -> None:
        """Ollama: `GET /api/version`; an OpenAI-compatible server: `GET {llm_url}/models`
        with the API key (vLLM and llama.cpp guard it with the same key as the chat)."""
        settings = self._sources.assistant.settings
        url = settings.llm_url or settings.ollama_url
        if not url or self._session is None:
            return
        reachable, version = False, None
        try:
            if settings.llm_url:
                reachable = await self._probe_openai(settings.llm_url, settings.llm_api_key)
            else:
                reachable, version = await self._probe_ollama(url)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            _LOGGER.debug("The LLM server at %s is unreachable: %s", public_url(url), err)
        self._llm = {"reachable": reachable, "version": version, "checked": time.time()}

    async def _probe_ollama(self, url: str) -> tuple[bool, str | None]:
        assert self._session is not None
        async with self._session.get(URL(url) / "api" / "version") as response:
            if response.status != 200:
                return False, None
            return True, (await response.json(content_type=None)).get("version")

    async def _probe_openai(self, url: str, api_key: str | None) -> bool:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        async with self._session.get(f"{url.rstrip('/')}/models", headers=headers) as response:
            if response.status != 200:
                _LOGGER.debug("The LLM server's models list: HTTP %d", response.status)
            return response.status == 200

    def device(self) -> dict[str, Any]:
        """cpu, or cuda with the GPUs nvidia-smi (or CTranslate2) reports."""
        asr = self._sources.asr
        if asr.device != "cuda":
            return {"kind": "cpu", "gpus": []}
        gpus = self._gpus
        if not gpus:
            import ctranslate2

            count = ctranslate2.get_cuda_device_count()
            gpus = [{"name": f"CUDA device {index}"} for index in range(count)]
        return {"kind": "cuda", "gpus": gpus}

    def services(self) -> list[dict[str, Any]]:
        """What the Wyoming server offers, as its `info` event advertises it."""
        info = self._sources.info
        ready = self._sources.ready.is_set()
        out: list[dict[str, Any]] = []
        for asr in info.asr or []:
            models = [model.name for model in asr.models]
            out.append({"kind": "asr", "name": asr.name, "models": models, "ready": ready})
        for tts in info.tts or []:
            voices = [voice.name for voice in tts.voices]
            out.append({"kind": "tts", "name": tts.name, "models": voices, "ready": ready})
        for handle in info.handle or []:
            models = [model.name for model in handle.models]
            out.append({"kind": "handle", "name": handle.name, "models": models, "ready": ready})
        for intent in info.intent or []:
            models = [model.name for model in intent.models]
            out.append({"kind": "intent", "name": intent.name, "models": models, "ready": ready})
        return out

    def reachability(self) -> dict[str, Any]:
        settings = self._sources.assistant.settings
        home = self._sources.assistant.home
        url = settings.llm_url or settings.ollama_url
        return {
            "home": {
                "kind": "home-assistant" if settings.ha_url else "file",
                "url": public_url(settings.ha_url),
                "available": home.available,
            },
            "ollama": {  # the key the page reads; it is whichever LLM server is configured
                "kind": "openai" if settings.llm_url else "ollama",
                "configured": bool(url),
                "url": public_url(url),
                "model": settings.llm_model if url else None,
                **self._llm,
            },
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole page's data as JSON-ready values."""
        app = self._sources
        turns = list(app.traces.turns)[-MAX_TURNS:]
        return {
            "version": __version__,
            "ready": app.ready.is_set(),
            "uptime_s": round(time.time() - self._started, 1),
            "models": {
                "asr": {
                    "name": app.asr.description.name,
                    "description": app.asr.description.description,
                    "device": app.asr.device,
                    "compute_type": app.asr.compute_type,
                    "beam_size": app.asr.beam_size,
                },
                "tts": {
                    "voice": app.tts.default_voice.name,
                    "voices": [voice.name for voice in app.tts.voices],
                    "sample_rate": app.tts.default_voice.sample_rate,
                },
            },
            "device": self.device(),
            "services": self.services(),
            "satellites": [
                {
                    "name": status.name,
                    "area": status.area,
                    "state": status.state,
                    "peer": status.peer,
                    "last_seen": status.last_seen,
                }
                for status in app.satellites.values()
            ],
            "browser_clients": self.browser_clients,
            "reachability": self.reachability(),
            "areas": sorted(area.name for area in app.assistant.home.snapshot.areas.values()),
            "turns": [trace.to_dict() for trace in reversed(turns)],
        }
