"""Bounded reading of Wyoming frames.

The `wyoming` library's reader trusts whatever a header claims: it will `readexactly` a
1 GB payload, wait forever on `payload_length: 1e400`, and turn malformed JSON into a
silent disconnect. A voice box on a home network must survive scanners and buggy
clients, so every length is checked against a documented limit *before* the body is
read, a started header must finish within a timeout, and every violation raises a
`ProtocolError` whose message becomes an `error` event for that client.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

from wyoming.event import Event

from ..errors import RtxError


class ProtocolError(RtxError):
    """The peer sent something that is not a well-formed, bounded Wyoming frame."""

    code = "protocol-error"


@dataclass(frozen=True)
class FrameLimits:
    """Upper bounds for one frame; an audio chunk needs a few hundred KB at most."""

    max_header_bytes: int = 64 * 1024
    """Longest JSON header line, newline included."""
    max_data_bytes: int = 1024 * 1024
    """Largest `data_length` block."""
    max_payload_bytes: int = 1024 * 1024
    """Largest `payload_length` block (1 MB = 32 s of 16 kHz mono audio)."""
    header_timeout: float = 30.0
    """Seconds a header (and its body) may take once its first byte has arrived."""


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    """Validate one declared length; JSON allows 1e400 (inf), -5, 3.5 and "12"."""
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"{key} must be an integer, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ProtocolError(f"{key} must be a finite integer, got {value!r}")
        value = int(value)
    if value < 0:
        raise ProtocolError(f"{key} must not be negative, got {value}")
    if value > limit:
        raise ProtocolError(f"{key} {value} exceeds the limit of {limit} bytes")
    return value


def parse_header(line: bytes, limits: FrameLimits) -> tuple[dict[str, Any], int, int]:
    """Decode and validate a header line; return it with its data and payload lengths."""
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"header is not valid JSON: {err}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header must be a JSON object")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ProtocolError("header has no event type")
    data = header.get("data")
    if data is not None and not isinstance(data, dict):
        raise ProtocolError("header data must be a JSON object")
    data_length = _length(header, "data_length", limits.max_data_bytes)
    payload_length = _length(header, "payload_length", limits.max_payload_bytes)
    return header, data_length, payload_length


async def _read_frame_rest(
    reader: asyncio.StreamReader, first: bytes, limits: FrameLimits
) -> Event:
    try:
        line = first + await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"header line longer than {limits.max_header_bytes} bytes") from None
    if len(line) > limits.max_header_bytes:
        raise ProtocolError(f"header line longer than {limits.max_header_bytes} bytes")
    header, data_length, payload_length = parse_header(line, limits)

    data: dict[str, Any] = dict(header.get("data") or {})
    if data_length:
        block = await reader.readexactly(data_length)
        try:
            extra = json.loads(block)
        except (UnicodeDecodeError, ValueError) as err:
            raise ProtocolError(f"data block is not valid JSON: {err}") from None
        if not isinstance(extra, dict):
            raise ProtocolError("data block must be a JSON object")
        data.update(extra)

    payload = await reader.readexactly(payload_length) if payload_length else None
    return Event(type=header["type"], data=data, payload=payload)


async def read_event(reader: asyncio.StreamReader, limits: FrameLimits) -> Event | None:
    """Read one frame; None on a clean end of stream, ProtocolError on a bad frame.

    Waiting for the *first* byte has no timeout (Home Assistant keeps satellite links
    open and idle); once a frame has started, the rest must arrive within
    `limits.header_timeout` so a half-sent header cannot pin a connection forever.
    The reader must have been created with a buffer limit >= max_header_bytes.
    """
    while True:
        first = await reader.read(1)
        if not first:
            return None
        if first not in (b"\n", b"\r"):
            break  # blank lines between frames are tolerated, as the library does
    try:
        return await asyncio.wait_for(
            _read_frame_rest(reader, first, limits), timeout=limits.header_timeout
        )
    except TimeoutError:
        raise ProtocolError(f"frame not completed within {limits.header_timeout:g} s") from None
    except asyncio.IncompleteReadError:
        return None  # peer closed mid-frame: nothing to answer
