"""``python -m addon``: the add-on's entry point (the image's CMD).

Every default is what the Supervisor provides (``/data/options.json``, ``/config``,
``http://supervisor``, ``$SUPERVISOR_TOKEN``); the flags exist so tests can point the same
code at a fake options file, a temporary config folder and a fake Supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from pathlib import Path

from wyoming_rtx.settings import DEFAULT_PORT

from .options import DEFAULT_CONFIG_DIR, DEFAULT_OPTIONS_PATH, INGRESS_PORT, INGRESS_PROXY
from .runner import RunnerConfig, run
from .supervisor import DEFAULT_SUPERVISOR_URL

_LOGGER = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> RunnerConfig:
    """Command line (and environment) → ``RunnerConfig``."""
    parser = argparse.ArgumentParser(prog="python -m addon", description=__doc__)
    parser.add_argument(
        "--options",
        type=Path,
        default=Path(os.environ.get("ADDON_OPTIONS_PATH", DEFAULT_OPTIONS_PATH)),
        help="options.json written by the Supervisor",
    )
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument(
        "--supervisor-url", default=os.environ.get("SUPERVISOR_URL", DEFAULT_SUPERVISOR_URL)
    )
    parser.add_argument("--hostname", default=socket.gethostname())
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--ingress-port", type=int, default=INGRESS_PORT, help="status page for ingress"
    )
    parser.add_argument(
        "--ingress-proxy",
        default=INGRESS_PROXY,
        help="the only address the status page serves (the Supervisor's ingress proxy)",
    )
    args = parser.parse_args(argv)
    return RunnerConfig(
        options_path=args.options,
        config_dir=args.config_dir,
        supervisor_url=args.supervisor_url,
        supervisor_token=os.environ.get("SUPERVISOR_TOKEN") or None,
        hostname=args.hostname,
        port=args.port,
        ingress_port=args.ingress_port,
        ingress_proxy=args.ingress_proxy,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse, log like the server does, run until stopped."""
    cfg = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _LOGGER.debug(cfg)
    return asyncio.run(run(cfg))


if __name__ == "__main__":
    sys.exit(main())
