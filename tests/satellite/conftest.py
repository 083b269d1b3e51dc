"""Satellite test fixtures: piper-made WAVs (see make_fixtures.py) and loaded wake engines."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from satellite import sound_device
from satellite.settings import WakeSettings
from satellite.wake import WakeEngine, make_engine


@pytest.fixture(autouse=True)
def _fresh_portaudio_bookkeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    """sound_device keeps process-wide state (streams open, lost devices, a new list wanted);
    a test's fake device must not leave it to the next test run in the same process."""
    monkeypatch.setattr(sound_device, "_streams", 0)
    monkeypatch.setattr(sound_device, "_lost", set())
    monkeypatch.setattr(sound_device, "_relist_wanted", False)


FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sat_manifest() -> dict[str, dict]:
    return json.loads((FIXTURES / "manifest.json").read_text())


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        return wav.readframes(wav.getnframes())


@pytest.fixture(scope="session")
def oww_engine() -> WakeEngine:
    """openwakeword with hey_jarvis plus two others (loading costs ~1 s: load once)."""
    return make_engine(WakeSettings(names=("hey_jarvis", "ok_nabu", "alexa")))


@pytest.fixture(scope="session")
def mww_engine() -> WakeEngine:
    return make_engine(
        WakeSettings(engine="microwakeword", names=("hey_jarvis", "okay_nabu", "alexa"))
    )


class QueueMic:
    """A microphone the test feeds (``feed``) and ends (``end``); read paces nothing."""

    restartable = False

    def __init__(self) -> None:
        import asyncio

        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def open(self) -> None:
        return None

    async def read(self) -> bytes | None:
        import asyncio

        await asyncio.sleep(0)  # let the connection tasks run between chunks
        return await self.queue.get()

    async def close(self) -> None:
        return None

    def feed(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), 1024):
            self.queue.put_nowait(pcm[i : i + 1024])

    def end(self) -> None:
        self.queue.put_nowait(None)


async def wait_for(condition, timeout: float = 10.0) -> None:  # noqa: ANN001
    """Poll ``condition()`` until true; fail after ``timeout`` seconds."""
    import asyncio

    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met in {timeout} s")
