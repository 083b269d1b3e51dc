"""Tell Home Assistant about the server through the Supervisor's discovery API.

This is what the official Wyoming add-ons do (``bashio::discovery "wyoming"`` with
``{"uri": "tcp://$(hostname):<port>"}``): HA's wyoming config flow (``async_step_hassio``)
parses ``config["uri"]`` with ``urlparse`` and connects to that host and port, so the host is
the add-on's own hostname, which resolves on the Supervisor's internal network.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

_LOGGER = logging.getLogger(__name__)

DEFAULT_SUPERVISOR_URL = "http://supervisor"
DISCOVERY_SERVICE = "wyoming"


def discovery_uri(hostname: str, port: int) -> str:
    """The URI HA's wyoming integration will connect to."""
    return f"tcp://{hostname}:{port}"


def discovery_payload(uri: str) -> dict[str, Any]:
    """The body of ``POST /discovery``, as bashio::discovery builds it."""
    return {"service": DISCOVERY_SERVICE, "config": {"uri": uri}}


async def register_discovery(
    supervisor_url: str,
    token: str,
    uri: str,
    *,
    attempts: int = 5,
    retry_delay: float = 2.0,
    timeout: float = 10.0,
) -> str | None:
    """POST the discovery message; return its uuid, or None after the last failed attempt.

    Never raises for a Supervisor that is down or refuses: the server keeps serving, and
    the user can still add it by host and port, so a failure is a log line, not a crash.
    Retries because the Supervisor can be busy right after an add-on (re)start.
    """
    url = f"{supervisor_url.rstrip('/')}/discovery"
    headers = {"Authorization": f"Bearer {token}"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        for attempt in range(1, attempts + 1):
            try:
                async with session.post(
                    url, json=discovery_payload(uri), headers=headers
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status == 200 and body.get("result") == "ok":
                        uuid = (body.get("data") or {}).get("uuid")
                        _LOGGER.info("Sent discovery information to Home Assistant (%s)", uri)
                        return str(uuid) if uuid else ""
                    _LOGGER.warning(
                        "Supervisor refused discovery (HTTP %s, %s), attempt %s/%s",
                        response.status,
                        body.get("message") if isinstance(body, dict) else body,
                        attempt,
                        attempts,
                    )
            except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as err:
                _LOGGER.warning(
                    "Discovery call to the Supervisor failed (%s), attempt %s/%s",
                    err.__class__.__name__,
                    attempt,
                    attempts,
                )
            if attempt < attempts:
                await asyncio.sleep(retry_delay)
    _LOGGER.error(
        "Discovery message to Home Assistant failed; add the Wyoming integration by hand "
        "with this add-on's hostname and port"
    )
    return None
