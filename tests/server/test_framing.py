"""The frame reader in isolation: limits hold for any input (hypothesis fuzz)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wyoming.event import Event

from wyoming_rtx.protocol.framing import FrameLimits, ProtocolError, read_event

LIMITS = FrameLimits(
    max_header_bytes=1024, max_data_bytes=2048, max_payload_bytes=4096, header_timeout=0.2
)


class CountingReader(asyncio.StreamReader):
    """A StreamReader that records how many bytes the code under test consumed."""

    def __init__(self, data: bytes) -> None:
        super().__init__(limit=LIMITS.max_header_bytes)
        self.fed = len(data)
        self.feed_data(data)
        self.feed_eof()

    @property
    def consumed(self) -> int:
        return self.fed - len(self._buffer)


async def _read_all(data: bytes) -> tuple[list[Event], CountingReader]:
    reader = CountingReader(data)
    events: list[Event] = []
    while (event := await read_event(reader, LIMITS)) is not None:
        events.append(event)
    return events, reader


def _frame(header: dict, data: bytes = b"", payload: bytes = b"") -> bytes:
    return json.dumps(header).encode() + b"\n" + data + payload


async def test_valid_frames_round_trip() -> None:
    frames = _frame({"type": "ping", "data": {"text": "a"}}) + _frame(
        {"type": "audio-chunk", "data_length": 9, "payload_length": 4},
        b'{"rate":1}',
        b"\x01\x02\x03\x04",
    )
    # data_length 9 cuts '{"rate":1}' (10 bytes) short: that is a protocol error
    with pytest.raises(ProtocolError):
        await _read_all(frames)
    good = _frame({"type": "ping", "data": {"text": "a"}}) + _frame(
        {"type": "audio-chunk", "data_length": 10, "payload_length": 4},
        b'{"rate":1}',
        b"\x01\x02\x03\x04",
    )
    events, _ = await _read_all(good)
    assert [e.type for e in events] == ["ping", "audio-chunk"]
    assert events[1].data == {"rate": 1} and events[1].payload == b"\x01\x02\x03\x04"


async def test_eof_mid_frame_is_a_clean_end() -> None:
    events, _ = await _read_all(_frame({"type": "x", "payload_length": 100}, payload=b"abc"))
    assert events == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=6000))
def test_arbitrary_bytes_never_escape_the_limits(data: bytes) -> None:
    """Any byte string: only ProtocolError may be raised, and nothing past one frame's limit
    (header + data + payload caps) is ever consumed for a frame."""

    async def check() -> None:
        reader = CountingReader(data)
        budget = LIMITS.max_header_bytes + LIMITS.max_data_bytes + LIMITS.max_payload_bytes
        before = 0
        while True:
            try:
                event = await read_event(reader, LIMITS)
            except ProtocolError:
                break
            assert reader.consumed - before <= budget + 1
            before = reader.consumed
            if event is None:
                break
            if event.payload is not None:
                assert len(event.payload) <= LIMITS.max_payload_bytes

    asyncio.run(check())


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=5),
        st.booleans(),
        st.none(),
    )
)
def test_declared_lengths_are_validated_before_reading(length: object) -> None:
    header = {"type": "audio-chunk", "payload_length": length}
    try:
        line = json.dumps(header).encode() + b"\n"
    except ValueError:
        return

    async def check() -> None:
        reader = CountingReader(line + b"\x00" * 10)
        try:
            event = await read_event(reader, LIMITS)
        except ProtocolError:
            assert reader.consumed == len(line)  # refused before touching the body
            return
        if event is not None and event.payload:
            assert len(event.payload) <= LIMITS.max_payload_bytes

    asyncio.run(check())
