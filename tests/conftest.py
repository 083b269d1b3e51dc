"""Fixtures shared by every test area."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Recorded speech (from wyoming-faster-whisper's tests, MIT)."""
    return DATA_DIR


@pytest.fixture(scope="session")
def manifest() -> list[dict]:
    """What each recording says, from tests/data/manifest.json."""
    return json.loads((DATA_DIR / "manifest.json").read_text())
