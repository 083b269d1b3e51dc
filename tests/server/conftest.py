"""One real server process shared by the server tests (models load once)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_proc import RunningServer, launch, stop


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server on the bundled default models."""
    running = launch(tmp_path_factory.mktemp("server"))
    yield running
    code = stop(running)
    assert code == 0, running.log()
