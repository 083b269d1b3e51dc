"""The process-wide count of CPU decodes that a synthesis checks before taking every core."""

from __future__ import annotations

import threading

import pytest

from wyoming_rtx.cpu_work import InFlight


def test_busy_while_any_run_is_in_progress_from_any_thread() -> None:
    runs = InFlight()
    assert not runs.busy
    started, release = threading.Event(), threading.Event()

    def decode() -> None:
        with runs.running():
            started.set()
            release.wait(5)

    worker = threading.Thread(target=decode)
    worker.start()
    assert started.wait(5)
    with runs.running():
        assert runs.busy
    assert runs.busy  # the other thread's run is still going
    release.set()
    worker.join(5)
    assert not runs.busy


def test_a_run_that_fails_is_no_longer_counted() -> None:
    runs = InFlight()
    with pytest.raises(RuntimeError), runs.running():
        raise RuntimeError("decode failed")
    assert not runs.busy
