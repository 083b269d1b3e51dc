"""Home Assistant mode: who may connect (``--ha-allow``) and who keeps the satellite.

Home Assistant pings its satellites 2 s after each pong and gives up after 5 s of silence
(homeassistant/components/wyoming/assist_satellite.py: ``_PING_SEND_DELAY``,
``_PING_TIMEOUT``). The connection it holds must not be pushed off by another host while it
pings; a connection that went quiet (HA gone, half-open socket) must not lock HA out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming_helpers import REPO, free_port

from satellite.app import HaApp
from satellite.ha_server import SATELLITE_BUSY
from satellite.wake import WakeEngine
from wyoming_rtx.lan import NOT_ALLOWED

from .conftest import QueueMic, read_pcm, wait_for
from .ha_support import FakeHa, RecordingSink, ha_app, running_ha_app, satellite_settings


async def _pinging(ha: FakeHa, every: float = 0.5) -> None:
    """Home Assistant's keep-alive: a ping every `every` seconds until cancelled."""
    while True:
        await ha.send(Ping(text="ha").event())
        await asyncio.sleep(every)


async def _intrude(port: int, first: Event) -> tuple[Error | None, list[str]]:
    """Connect as another host would, send `first`; returns the error read and what followed."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(first)
        await client.write_event(Ping(text="intruder").event())
        events: list[str] = []
        error = None
        while True:
            try:
                event = await asyncio.wait_for(client.read_event(), 5)
            except TimeoutError:
                events.append("<still open>")  # served, not refused: the test says so
                break
            if event is None:
                break
            if Error.is_type(event.type):
                error = Error.from_event(event)
            events.append(event.type)
    return error, events


def _ha_app(oww_engine: WakeEngine, mic: QueueMic, **ha: object) -> HaApp:
    return ha_app(satellite_settings(), mic, RecordingSink(), oww_engine, **ha)


async def test_a_pinging_home_assistant_is_not_pushed_off(
    oww_engine: WakeEngine, fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="satellite")
    mic = QueueMic()
    app = _ha_app(oww_engine, mic, hold_seconds=1.5)
    async with running_ha_app(app, mic) as port:
        ha = FakeHa(port)
        await ha.connect()
        keepalive = asyncio.create_task(_pinging(ha))
        await wait_for(lambda: app.satellite.owner is not None and app.satellite.owner.running)
        owner = app.satellite.owner
        # Longer than hold_seconds: only the pings keep the hold, not the connection's age.
        await asyncio.sleep(2.0)
        for first in (RunSatellite().event(), Ping().event()):
            error, events = await _intrude(port, first)
            assert error is not None and error.code == SATELLITE_BUSY, events
            assert "pong" not in events and events[-1] == "error"  # nothing answered, then closed
        assert app.satellite.owner is owner
        assert "<closed>" not in ha.types()
        refusals = [r for r in caplog.records if "Refused 127.0.0.1" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING  # two, one line

        # A describe-only probe (HA's set-up, discovery) is still answered.
        async with AsyncTcpClient("127.0.0.1", port) as probe:
            await probe.write_event(Describe().event())
            info = await asyncio.wait_for(probe.read_event(), 5)
        assert info is not None and Info.is_type(info.type)

        # Home Assistant still gets the turn.
        mic.feed(read_pcm(fixtures / "wake_command.wav"))
        await wait_for(lambda: "audio-stop" in ha.types())
        keepalive.cancel()
        await ha.close()


async def test_a_silent_owner_is_replaced(oww_engine: WakeEngine, caplog) -> None:  # noqa: ANN001
    """HA's host vanished without closing: after hold_seconds of silence HA's new link wins."""
    caplog.set_level(logging.INFO, logger="satellite")
    mic = QueueMic()
    app = _ha_app(oww_engine, mic, hold_seconds=0.5)
    async with running_ha_app(app, mic) as port:
        stale = FakeHa(port)
        await stale.connect()  # run-satellite + describe, then nothing
        await wait_for(lambda: app.satellite.owner is not None)
        await asyncio.sleep(0.8)
        fresh = FakeHa(port)
        await fresh.connect()
        await fresh.send(Ping(text="fresh").event())
        await wait_for(lambda: "pong" in fresh.types() and "<closed>" in stale.types(), timeout=5)
        assert "error" not in fresh.types()
        assert "(quiet or closed)" in caplog.text
        await fresh.close()
        await stale.close()


async def test_an_owner_that_closes_is_replaced_at_once(oww_engine: WakeEngine) -> None:
    mic = QueueMic()
    app = _ha_app(oww_engine, mic, hold_seconds=30)
    async with running_ha_app(app, mic) as port:
        first = FakeHa(port)
        await first.connect()
        await first.send(Ping().event())
        await wait_for(lambda: "pong" in first.types())
        await first.close()
        second = FakeHa(port)
        await second.connect()
        await second.send(Ping().event())
        await wait_for(lambda: "pong" in second.types(), timeout=5)
        assert "error" not in second.types()
        await second.close()


async def test_a_paused_owner_keeps_the_satellite(oww_engine: WakeEngine) -> None:
    """A muted satellite gets no pings from HA, yet HA still holds it (it reconnects itself)."""
    mic = QueueMic()
    app = _ha_app(oww_engine, mic, hold_seconds=0.3)
    async with running_ha_app(app, mic) as port:
        ha = FakeHa(port)
        await ha.connect()
        await ha.send(PauseSatellite().event())
        await wait_for(lambda: app.satellite.owner is not None and app.satellite.owner.paused)
        await asyncio.sleep(0.6)
        error, _events = await _intrude(port, RunSatellite().event())
        assert error is not None and error.code == SATELLITE_BUSY
        await ha.close()


async def test_ha_allow_refuses_other_peers_in_process(oww_engine: WakeEngine) -> None:
    mic = QueueMic()
    app = _ha_app(oww_engine, mic, allow=("10.0.0.0/8",))
    async with running_ha_app(app, mic) as port:
        error, events = await _intrude(port, Describe().event())
        assert error is not None and error.code == NOT_ALLOWED
        assert events == ["error"]  # not even describe is answered
        assert app.satellite.owner is None


# --- the real program -------------------------------------------------------------------------


class SatelliteProcess:
    """``python -m satellite`` in Home Assistant mode, its microphone an open, silent pipe."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.log: list[str] = []
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    async def wait_for_log(self, needle: str, timeout: float = 60) -> None:
        await wait_for(lambda: any(needle in line for line in self.log), timeout=timeout)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._pump
        return int(self.proc.returncode or 0)


async def _start_satellite(*args: str) -> SatelliteProcess:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "satellite",
        "--ha-uri",
        f"tcp://127.0.0.1:{port}",
        "--no-zeroconf",
        "--mic-file",
        "-",
        "--wake-word",
        "hey_jarvis",
        "--no-sounds",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    satellite = SatelliteProcess(proc, port)
    try:
        await satellite.wait_for_log("Waiting for Home Assistant on port")
    except AssertionError:
        await satellite.stop()
        raise AssertionError("satellite did not start:\n" + "\n".join(satellite.log)) from None
    return satellite


async def test_the_program_refuses_peers_outside_ha_allow() -> None:
    satellite = await _start_satellite("--ha-allow", "10.0.0.0/8", "--ha-allow", "fc00::/7")
    try:
        for _ in range(3):
            error, events = await _intrude(satellite.port, Describe().event())
            assert error is not None and error.code == NOT_ALLOWED, events
            assert events == ["error"] and "--ha-allow" in error.text
        await satellite.wait_for_log("Refused 127.0.0.1")
        refusals = [line for line in satellite.log if "Refused" in line]
        assert len(refusals) == 1 and "WARNING" in refusals[0], refusals
        assert "10.0.0.0/8 fc00::/7" in refusals[0]
    finally:
        assert await satellite.stop() == 0, "\n".join(satellite.log)


async def test_the_program_keeps_a_pinging_home_assistant() -> None:
    """Default --ha-allow serves loopback; a second client is refused while HA pings."""
    satellite = await _start_satellite()
    try:
        ha = FakeHa(satellite.port)
        await ha.connect()
        keepalive = asyncio.create_task(_pinging(ha, every=1.0))
        await wait_for(lambda: "pong" in ha.types() and "info" in ha.types(), timeout=10)
        await asyncio.sleep(6)  # past the default hold (5 s): the pings hold it, not the age
        error, events = await _intrude(satellite.port, RunSatellite().event())
        assert error is not None and error.code == SATELLITE_BUSY, events
        assert "<closed>" not in ha.types()
        pongs = ha.types().count("pong")
        await wait_for(lambda: ha.types().count("pong") > pongs, timeout=5)  # HA still served
        keepalive.cancel()
        await ha.close()
        # Once HA has closed, the next client takes the satellite as before.
        newcomer = FakeHa(satellite.port)
        await newcomer.connect()
        await newcomer.send(Ping().event())
        await wait_for(lambda: "pong" in newcomer.types(), timeout=5)
        assert "error" not in newcomer.types()
        await newcomer.close()
    finally:
        assert await satellite.stop() == 0, "\n".join(satellite.log)
