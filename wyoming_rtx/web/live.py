"""Live updates for open status pages: a full snapshot on connect, then turns as they finish.

Finished turns arrive from the TraceLog listener (a plain callback on the loop); each page
has a small bounded queue so a stalled tab loses updates instead of growing memory. A fresh
snapshot goes out every `interval` seconds as well, for satellites and reachability, which
change without a turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from ..pipeline.trace import TraceLog, TurnTrace
from ..tasks import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

QUEUE_SIZE = 16


class LiveHub:
    """Fans finished turns out to every connected status page."""

    def __init__(
        self,
        traces: TraceLog,
        snapshot: Callable[[], dict[str, Any]],
        interval: float = 2.0,
    ) -> None:
        self._snapshot = snapshot
        self._interval = interval
        self._pages: set[asyncio.Queue[dict[str, Any]]] = set()
        self._unsubscribe: Callable[[], None] | None = traces.subscribe(self._on_turn)

    def __len__(self) -> int:
        """Pages connected now."""
        return len(self._pages)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_turn(self, trace: TurnTrace) -> None:
        message = {"type": "turn", "turn": trace.to_dict()}
        for queue in self._pages:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    async def serve(self, ws: web.WebSocketResponse) -> None:
        """Push updates to one page until it closes."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._pages.add(queue)
        sender = asyncio.create_task(self._send(ws, queue), name="status page updates")
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._pages.discard(queue)
            await cancel_and_wait(sender)

    async def _send(self, ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any]]) -> None:
        try:
            await ws.send_json({"type": "status", "status": self._snapshot()})
            while not ws.closed:
                try:
                    message = await asyncio.wait_for(queue.get(), self._interval)
                except TimeoutError:
                    message = {"type": "status", "status": self._snapshot()}
                await ws.send_json(message)
                if message["type"] == "turn":
                    await ws.send_json({"type": "status", "status": self._snapshot()})
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("Status page went away: %s", err)
            await ws.close()
