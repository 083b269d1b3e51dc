"""``python -m satellite``: parse the command line (cli.py), build settings, run one mode."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from wyoming_rtx.errors import ModelNotFoundError

from .app import HaApp, run_direct
from .cli import build_parser, ha_settings_from_args, settings_from_args
from .settings import DirectSettings, HaSettings, SatelliteSettings
from .sound_device import list_devices

_LOGGER = logging.getLogger(__name__)


async def _run(
    args: argparse.Namespace, settings: SatelliteSettings, ha: HaSettings | None
) -> None:
    if ha is not None:
        app = HaApp(settings, ha)
        await app.start()
        try:
            await app.run()
        finally:
            await app.stop()
    else:
        await run_direct(settings, DirectSettings(server_uri=args.server_uri))


async def _main(
    args: argparse.Namespace, settings: SatelliteSettings, ha: HaSettings | None
) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await _run(args, settings, ha)


def main(argv: list[str] | None = None) -> None:
    """Parse, check, run one mode until SIGINT/SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_devices:
        try:
            print(list_devices())
        except RuntimeError as err:
            parser.exit(1, f"{parser.prog}: error: {err}\n")
        return
    # Settings first: a bad --log-format is then a usage error, not basicConfig's traceback.
    settings = settings_from_args(parser, args)
    ha = ha_settings_from_args(parser, args)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format=args.log_format)
    _LOGGER.debug("%s %s", settings, ha)
    try:
        asyncio.run(_main(args, settings, ha))
    except (FileNotFoundError, ModelNotFoundError) as err:  # a missing model or sound: one
        parser.exit(2, f"{parser.prog}: error: {err}\n")  # clear line, no traceback


def run() -> None:
    """Console script entry point (``wyoming-rtx-satellite``)."""
    main()


if __name__ == "__main__":
    run()
