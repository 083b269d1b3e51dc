"""Announcements: a message spoken on chosen direct satellites, after a chime.

Home Assistant automations call it through `POST /api/announce` (web/app.py): "the washing
machine is done" in the kitchen. The targets are one satellite by name, or every satellite in
an area; the message is rendered once and sent to each of them as one audio stream, after a
turn in progress on that satellite has ended (never mixed into an answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import RtxError
from ..tts.engine import TtsEngine
from .bell import SatelliteLink, play, render_with_chime, wait_idle

_LOGGER = logging.getLogger(__name__)

ANNOUNCE_IDLE_WAIT_S = 10.0
"""An announcement waits at most this long for a turn on its satellite to end."""


class UnknownTargetError(RtxError):
    """No connected satellite has that name, or none is in that area."""

    code = "unknown-target"


@dataclass(frozen=True)
class Announcement:
    """What to say, and where: exactly one of `satellite` and `area`."""

    message: str
    satellite: str | None = None
    area: str | None = None


def targets(links: Mapping[str, SatelliteLink], announcement: Announcement) -> list[str]:
    """Names of the satellites that speak it; UnknownTargetError when there are none."""
    if announcement.satellite is not None:
        wanted = announcement.satellite.strip().casefold()
        names = [name for name in links if name.casefold() == wanted]
        if not names:
            raise UnknownTargetError(
                f"no satellite named {announcement.satellite!r} is connected "
                f"(connected: {', '.join(sorted(links)) or 'none'})"
            )
        return names
    area = (announcement.area or "").strip().casefold()
    names = [name for name, link in links.items() if (link.area or "").casefold() == area]
    if not names:
        areas = sorted({link.area for link in links.values() if link.area})
        raise UnknownTargetError(
            f"no connected satellite is in area {announcement.area!r} "
            f"(areas with one: {', '.join(areas) or 'none'})"
        )
    return sorted(names)


async def announce(
    links: Mapping[str, SatelliteLink], tts: TtsEngine, announcement: Announcement
) -> list[str]:
    """Speak the message on its targets; returns the names it was sent to.

    A satellite that drops while it is being sent is left out of the result (and logged);
    the others still hear it."""
    names = targets(links, announcement)
    audio, rate = await render_with_chime(tts, announcement.message)

    async def one(name: str) -> str | None:
        link = links.get(name)
        if link is None:
            return None
        try:
            await wait_idle(link, ANNOUNCE_IDLE_WAIT_S)
            await play(link, audio, rate)
        except (ConnectionError, OSError) as err:
            _LOGGER.info("Announcement not delivered to %s: %r", name, err)
            return None
        return name

    sent = [name for name in await asyncio.gather(*(one(n) for n in names)) if name]
    _LOGGER.info("Announced on %s: %r", ", ".join(sent) or "nobody", announcement.message)
    return sent
