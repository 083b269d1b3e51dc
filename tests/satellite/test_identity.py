"""Each satellite is someone of its own: the host's name by default, and the server keeps two
satellites that share a name apart (conversation, status and area), saying so once.

The server side runs ``SatelliteSession`` (what the dispatcher builds for a direct satellite)
against a pipeline that only records who opened turns: the name it passes is what keys the
LLM conversation (``satellite-<name>``), the status page and the traces.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from unittest.mock import MagicMock

import pytest
from wyoming.event import Event
from wyoming.info import Attribution, Info, Satellite
from wyoming.pipeline import PipelineStage, RunPipeline

from satellite.cli import build_parser, settings_from_args
from satellite.settings import SatelliteSettings
from wyoming_rtx.pipeline.satellite_session import SatelliteSession, unique_name
from wyoming_rtx.pipeline.turn import SatelliteIdentity, SatelliteStatus


class FakeTurn:
    done = False

    def cancel(self) -> None:
        self.done = True

    async def wait(self) -> None:
        return None


@dataclass
class FakePipeline:
    satellites: dict[str, SatelliteStatus] = field(default_factory=dict)
    opened: list[SatelliteIdentity] = field(default_factory=list)
    bell: MagicMock = field(default_factory=MagicMock)
    """Timers' rings (another part of the server): whatever it is asked, it accepts."""

    def open_turn(self, who: SatelliteIdentity, output: object, speak: bool = True) -> FakeTurn:
        self.opened.append(who)
        return FakeTurn()


@dataclass
class FakeConnection:
    peer: str

    async def write_event(self, event: Event) -> None:
        return None


def _info(name: str, area: str | None) -> Event:
    attribution = Attribution(name="test", url="")
    satellite = Satellite(
        name=name,
        attribution=attribution,
        installed=True,
        description=name,
        version="1",
        area=area,
    )
    return Info(satellite=satellite).event()


async def _connect(pipeline: FakePipeline, peer: str, name: str, area: str) -> SatelliteSession:
    session = SatelliteSession(pipeline, FakeConnection(peer))  # type: ignore[arg-type]
    await session.handle_event(_info(name, area))
    await session.handle_event(
        RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
    )
    return session


async def test_two_satellites_with_one_name_get_their_own_ids_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = FakePipeline()
    caplog.set_level(logging.INFO, "wyoming_rtx.pipeline.satellite_session")
    kitchen = await _connect(pipeline, "10.0.0.5:40000", "raspberrypi", "Kitchen")
    bedroom = await _connect(pipeline, "10.0.0.6:40000", "raspberrypi", "Bedroom")
    assert [who.name for who in pipeline.opened] == ["raspberrypi", "raspberrypi-2"]
    assert [who.area for who in pipeline.opened] == ["Kitchen", "Bedroom"]
    assert set(pipeline.satellites) == {"raspberrypi", "raspberrypi-2"}
    assert pipeline.satellites["raspberrypi-2"].area == "Bedroom"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "this one is raspberrypi-2" in warnings[0].getMessage()

    # The second one leaving does not take the first one's status with it...
    await bedroom.close()
    assert set(pipeline.satellites) == {"raspberrypi"}
    assert pipeline.satellites["raspberrypi"].area == "Kitchen"
    # ...and a repeated info keeps a satellite's own name rather than making it unique again.
    await kitchen.handle_event(_info("raspberrypi", "Kitchen"))
    assert set(pipeline.satellites) == {"raspberrypi"}
    await kitchen.close()
    assert pipeline.satellites == {}
    # Once the name is free again, the next satellite gets it as it is.
    again = await _connect(pipeline, "10.0.0.6:40001", "raspberrypi", "Bedroom")
    assert again.identity == SatelliteIdentity("raspberrypi", "Bedroom")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_unique_name_counts_up_from_two() -> None:
    assert unique_name("sat", set()) == "sat"
    assert unique_name("sat", {"sat", "sat-2"}) == "sat-3"


def test_the_default_name_is_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "living-room-pi")
    parser = build_parser()
    settings = settings_from_args(parser, parser.parse_args(["--mic-file", "-"]))
    assert settings.name == "living-room-pi"
    assert SatelliteSettings().name == "living-room-pi"
    assert "(default: this host's name)" in " ".join(parser.format_help().split())


async def test_the_same_host_reconnecting_keeps_its_name_and_conversation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Wi-Fi drop: the satellite reconnects from a new port before the server noticed its
    old link die. It is the same satellite, so it keeps its name (and conversation); the
    stale session closing later leaves the new entry alone."""
    pipeline = FakePipeline()
    caplog.set_level(logging.INFO, "wyoming_rtx.pipeline.satellite_session")
    stale = await _connect(pipeline, "10.0.0.5:40000", "kitchen", "Kitchen")
    fresh = await _connect(pipeline, "10.0.0.5:40001", "kitchen", "Kitchen")
    assert [who.name for who in pipeline.opened] == ["kitchen", "kitchen"]
    assert pipeline.satellites["kitchen"].peer == "10.0.0.5:40001"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("reconnected from 10.0.0.5:40001" in r.getMessage() for r in caplog.records)
    await stale.close()
    assert pipeline.satellites["kitchen"].peer == "10.0.0.5:40001"
    await fresh.close()
    assert pipeline.satellites == {}
