"""Fixtures for pipeline tests (helpers live in conftest_pipeline.py)."""

from pipeline_helpers import app

__all__ = ["app"]
