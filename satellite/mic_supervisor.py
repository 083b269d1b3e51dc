"""The supervisor that keeps a microphone alive: restarts with backoff, tells the listening
loop when an outage starts, and lets PortAudio list the devices again when a lost one waits.

A dead source (a command that exited, a sound device unplugged or stalled) is restarted with
exponential backoff; a source that finished (a file) ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from . import sound_device
from .audio_in import MicSource, SoundDeviceMic, make_mic
from .settings import MicSettings

_LOGGER = logging.getLogger(__name__)

_MAKE_WAY_SECONDS = 10.0
"""The microphone makes way for a new list of the devices at most this often."""


class MicSupervisor:
    """Yields microphone audio forever, restarting a dead source with exponential backoff.

    The first failure is a warning; repeats while the mic stays broken are debug lines, so a
    missing microphone does not flood the log. A non-restartable source ending ends the stream.
    """

    def __init__(
        self, settings: MicSettings, factory: Callable[[], MicSource] | None = None
    ) -> None:
        self.settings = settings
        self.factory = factory or (lambda: make_mic(settings))
        self.restarts = 0
        self.on_outage: Callable[[], None] | None = None
        """Called once when an outage starts, before the restart wait (the listening loop
        ends a turn in progress rather than wait for audio that may not come)."""

    @staticmethod
    def _should_make_way(source: MicSource, made_way_at: float) -> bool:
        """Should this PortAudio microphone close so that a lost device (a USB speaker plugged
        back in as a new card) can be found? Only when it is the one stream open: PortAudio
        lists the devices again only with every stream closed (sound_device.py)."""
        return (
            isinstance(source, SoundDeviceMic)
            and sound_device.relist_wanted()
            and asyncio.get_running_loop().time() - made_way_at >= _MAKE_WAY_SECONDS
        )

    async def stream(self) -> AsyncIterator[bytes]:
        delay = self.settings.restart_seconds
        failing = False
        made_way_at = -_MAKE_WAY_SECONDS
        while True:
            source = self.factory()
            problem = ""
            make_way = False
            try:
                await source.open()
                while (pcm := await source.read()) is not None:
                    if failing:
                        _LOGGER.info("Microphone is back")
                        failing = False
                        delay = self.settings.restart_seconds
                    yield pcm
                    if self._should_make_way(source, made_way_at):
                        make_way = True
                        break
                else:
                    if not source.restartable:
                        return
                    problem = f"microphone ended (exit code {getattr(source, 'returncode', None)})"
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any mic failure means: restart it
                problem = (
                    f"microphone failed: {err if isinstance(err, RuntimeError) else repr(err)}"
                )
            finally:
                if problem:  # said before closing: a dead device can take a while to close
                    log = _LOGGER.debug if failing else _LOGGER.warning
                    log("%s; restarting in %.1f s", problem, delay)
                    if not failing and self.on_outage is not None:
                        self.on_outage()
                elif make_way:
                    _LOGGER.info("Reopening the microphone so PortAudio lists the devices again")
                await source.close()
            if make_way:  # not an outage: reopened at once, its next open lists the devices
                made_way_at = asyncio.get_running_loop().time()
                continue
            failing = True
            self.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.restart_max_seconds)
