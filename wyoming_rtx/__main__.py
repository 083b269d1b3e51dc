"""Entry point: parse the command line (cli.py), set up logging, build the engines, serve.
Nothing else lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from .cli import build_parser, settings_from_args
from .config_checks import check_voice
from .errors import ModelNotFoundError, RtxError

_LOGGER = logging.getLogger("wyoming_rtx")


async def main(argv: list[str] | None = None) -> int:
    """Build everything, serve until SIGTERM/SIGINT, shut down cleanly."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Settings first: a bad --log-format is then a usage error, not basicConfig's traceback.
    server_settings, asr_settings, tts_settings, handle_settings = settings_from_args(args, parser)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format=args.log_format)
    _LOGGER.debug(
        "Settings: %s %s %s %s", server_settings, asr_settings, tts_settings, handle_settings
    )
    check_voice(tts_settings, parser)
    from .app import App  # heavy imports after argument errors are reported

    try:
        app = App(server_settings, asr_settings, tts_settings, handle_settings)
    except (ModelNotFoundError, RtxError, ValueError) as err:
        _LOGGER.error("Cannot start: %s", err)
        return 2
    from .app import StatusPageError
    from .web import TokenStoreError

    try:
        await app.start()
    except TokenStoreError as err:
        _LOGGER.error("Cannot start the status page: %s", err)
        await app.stop()
        return 2
    except StatusPageError as err:
        _LOGGER.error("%s", err)
        await app.stop()
        return 2
    except OSError as err:
        _LOGGER.error("Cannot listen on %s: %s", server_settings.uri, err)
        await app.stop()
        return 2

    loop = asyncio.get_running_loop()
    serving = asyncio.create_task(app.serve(), name="serve")
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not a stub: asyncio has no signal handlers on Windows (NotImplementedError) or
        # outside the main thread (RuntimeError, e.g. when embedded); there Ctrl-C still
        # reaches asyncio.run as KeyboardInterrupt and the `finally` below still stops the app.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, serving.cancel)
    code = 0
    try:
        await serving
    except asyncio.CancelledError:
        _LOGGER.info("Stopping")
    except ModelNotFoundError as err:  # a missing model, or a bundled one failing its digests
        _LOGGER.error("Cannot start: %s", err)
        code = 2
    except Exception as err:  # a model that cannot load: say why, exit non-zero
        _LOGGER.error("Stopped: %s", err, exc_info=args.debug)
        code = 1
    finally:
        loading = not app.ready.is_set()
        await app.stop()
    if loading:
        # A model load runs in an executor thread that cannot be interrupted, and the
        # interpreter would join it at exit: a stop during start-up must not wait for it
        # (the add-on Supervisor kills after 20 s).
        logging.shutdown()
        os._exit(code)
    return code


def run() -> None:
    """Console-script entry point."""
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))


if __name__ == "__main__":
    run()
