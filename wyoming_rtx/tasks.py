"""Stopping a background task: cancel it, then wait until it has really finished."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it, so nothing it holds outlives its owner's stop.

    Its CancelledError is the expected end and is swallowed; any other exception it
    raises while unwinding propagates.
    """
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
