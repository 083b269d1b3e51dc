"""The discovery call, against a local server playing the Supervisor."""

from __future__ import annotations

import pytest

from addon.supervisor import discovery_uri, register_discovery

from .conftest import FakeSupervisor


async def test_posts_the_wyoming_discovery_message(supervisor: FakeSupervisor) -> None:
    uri = discovery_uri("abc123-wyoming-rtx", 10900)
    uuid = await register_discovery(supervisor.url, "tok3n", uri, attempts=1)
    assert uuid == "d1sc0"
    assert len(supervisor.requests) == 1
    request = supervisor.requests[0]
    assert request.method == "POST"
    assert request.path == "/discovery"
    assert request.authorization == "Bearer tok3n"
    # What HA's wyoming config flow reads: urlparse(config["uri"]) → hostname, port.
    assert request.body == {
        "service": "wyoming",
        "config": {"uri": "tcp://abc123-wyoming-rtx:10900"},
    }


async def test_retries_a_busy_supervisor(supervisor: FakeSupervisor) -> None:
    supervisor.statuses = [503, 400]
    uuid = await register_discovery(
        supervisor.url, "tok3n", "tcp://h:10900", attempts=3, retry_delay=0.01
    )
    assert uuid == "d1sc0"
    assert len(supervisor.requests) == 3


async def test_gives_up_with_a_log_line_not_an_exception(
    supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor.statuses = [401, 401]
    uuid = await register_discovery(
        supervisor.url, "s3cret-token", "tcp://h:10900", attempts=2, retry_delay=0.01
    )
    assert uuid is None
    assert len(supervisor.requests) == 2
    assert "failed" in caplog.text
    assert "s3cret-token" not in caplog.text


async def test_unreachable_supervisor(free_port: int) -> None:
    uuid = await register_discovery(
        f"http://127.0.0.1:{free_port}", "t", "tcp://h:10900", attempts=2, retry_delay=0.01
    )
    assert uuid is None
