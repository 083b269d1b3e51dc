"""Container health check: the server is healthy when it answers ``describe`` with ``info``.

Home Assistant gives a Wyoming service 1 second for this exchange (connect included,
``homeassistant/components/wyoming/data.py``), so the check uses the same budget: a server
that is up but too slow for HA is reported unhealthy, as HA would treat it.

Exit codes (Docker's HEALTHCHECK contract): 0 healthy, 1 unhealthy. A bad command line
exits 2 (argparse), which Docker reserves; it only happens to a miswritten HEALTHCHECK.

    python -m addon.healthcheck [--uri tcp://127.0.0.1:10900] [--timeout 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from urllib.parse import urlparse

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from wyoming_rtx.settings import DEFAULT_PORT

_LOGGER = logging.getLogger(__name__)

INFO_TIMEOUT = 1.0
"""HA's ``_INFO_TIMEOUT``."""

DEFAULT_CHECK_URI = f"tcp://127.0.0.1:{DEFAULT_PORT}"
URI_ENV = "WYOMING_RTX_HEALTHCHECK_URI"
"""Lets a container that runs the server on another port keep the image's HEALTHCHECK."""

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1


async def answers_describe(host: str, port: int, timeout: float = INFO_TIMEOUT) -> bool:
    """True when ``host:port`` replies to ``describe`` with ``info`` within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            async with AsyncTcpClient(host, port) as client:
                await client.write_event(Describe().event())
                while True:
                    event = await client.read_event()
                    if event is None:
                        _LOGGER.debug("Connection closed before info")
                        return False
                    if Info.is_type(event.type):
                        return True
                    # HA skips other events while it waits for info; so do we.
    except TimeoutError:
        _LOGGER.debug("No info within %s s", timeout)
        return False
    except OSError as err:
        _LOGGER.debug("Cannot reach %s:%s: %s", host, port, err)
        return False


def parse_tcp_uri(uri: str) -> tuple[str, int]:
    """``tcp://host:port`` → (host, port); anything else is a usage error."""
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
        raise ValueError(f"expected tcp://host:port, got {uri!r}")
    return parsed.hostname, parsed.port


def main(argv: list[str] | None = None) -> int:
    """Run one check and return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m addon.healthcheck", description=__doc__)
    parser.add_argument("--uri", default=os.environ.get(URI_ENV, DEFAULT_CHECK_URI))
    parser.add_argument("--timeout", type=float, default=INFO_TIMEOUT)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    try:
        host, port = parse_tcp_uri(args.uri)
    except ValueError as err:
        parser.error(str(err))
    healthy = asyncio.run(answers_describe(host, port, args.timeout))
    if not healthy:
        print(f"unhealthy: no info from {args.uri} within {args.timeout} s", file=sys.stderr)
        return EXIT_UNHEALTHY
    return EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())
