"""One real server for the reliability suite (models load once, ~15 s).

Audio per transcription is capped at 10 s here (default 30 s) so the truncation test
needs only seconds of decoding; every other option is the default, including the
20,000-character text cap the text-cap test checks."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
from server_proc import RunningServer, launch, stop

MAX_AUDIO_SECONDS = 10


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server on the bundled models; it must shut down cleanly after everything."""
    running = launch(
        tmp_path_factory.mktemp("reliability"), "--max-audio-seconds", str(MAX_AUDIO_SECONDS)
    )
    yield running
    code = stop(running)
    assert code == 0, running.log()
    # Unretrieved task exceptions and never-awaited coroutines surface only when the
    # server shuts down (garbage collection), so the whole session's log is checked here.
    for sign in ("Traceback", "never retrieved", "was never awaited"):
        assert sign not in running.log(), running.log()


@pytest.fixture
def proc(server: RunningServer) -> psutil.Process:
    """The server process, for CPU, memory, thread, fd and socket counts."""
    return psutil.Process(server.proc.pid)
