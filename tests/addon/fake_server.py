"""A stand-in for ``python -m wyoming_rtx`` that loads no model (runner tests only).

It records the command line and whether it got HA_TOKEN (never the token's value) into the
file named by FAKE_SERVER_RECORD, answers ``describe`` with ``info``, and exits 0 on SIGTERM.
FAKE_SERVER_EXIT=N makes it exit with N at once; FAKE_SERVER_IGNORE_TERM=1 makes it ignore
SIGTERM, to prove the runner kills a server that does not stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe, Info


async def _client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (event := await async_read_event(reader)) is not None:
            if Describe.is_type(event.type):
                await async_write_event(Info().event(), writer)
    finally:
        writer.close()


def record(argv: list[str]) -> None:
    """Write what the runner handed over, before serving (the tests read it afterwards)."""
    seen = {"argv": argv, "has_ha_token": bool(os.environ.get("HA_TOKEN"))}
    Path(os.environ["FAKE_SERVER_RECORD"]).write_text(json.dumps(seen), encoding="utf-8")


async def serve(argv: list[str]) -> int:
    """Answer describe until SIGTERM."""
    uri = urlparse(argv[argv.index("--uri") + 1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if os.environ.get("FAKE_SERVER_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(_client, "127.0.0.1", uri.port)
    async with server:
        await stop.wait()
    return 0


if __name__ == "__main__":
    record(sys.argv[1:])
    if "FAKE_SERVER_EXIT" in os.environ:
        sys.exit(int(os.environ["FAKE_SERVER_EXIT"]))
    sys.exit(asyncio.run(serve(sys.argv[1:])))
