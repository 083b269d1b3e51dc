"""`script/run` starts the installed server without a package index: a house whose internet is
down still gets its assistant back after a restart, and a start spends no time in pip."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from wyoming_helpers import REPO

from wyoming_rtx.version import __version__

NO_INDEX = {
    "PIP_NO_INDEX": "1",
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    "PIP_FIND_LINKS": "",
    "WYOMING_RTX_REINSTALL": "0",
}
"""Every way pip could reach a package: refused (port 9 is discard; nothing listens)."""


def _run(script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **NO_INDEX},
    )


def test_an_installed_server_starts_with_no_package_index() -> None:
    """After `script/setup` (which `script/test` has run), `script/run` goes straight to the
    server: it prints its version with pip unable to reach any index, in seconds, and the
    install stamp is left as it was."""
    stamp = REPO / ".venv" / ".setup-stamp"
    before = stamp.stat().st_mtime_ns
    started = time.monotonic()
    result = _run(REPO / "script" / "run", REPO)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == __version__
    assert "pip" not in result.stderr.lower()
    assert stamp.stat().st_mtime_ns == before
    assert elapsed < 15, elapsed


def test_changed_packaging_installs_again(tmp_path: Path) -> None:
    """When pyproject.toml changed since the install, `script/run` runs the set-up again
    (here a stand-in that only says it ran, so the real environment is not touched)."""
    (tmp_path / "script").mkdir()
    shutil.copy(REPO / "script" / "run", tmp_path / "script" / "run")
    setup = tmp_path / "script" / "setup"
    setup.write_text('#!/usr/bin/env bash\necho SETUP-RAN "$@"\nexit 3\n')
    setup.chmod(0o755)
    (tmp_path / "pyproject.toml").write_text(
        (REPO / "pyproject.toml").read_text() + "\n# changed\n"
    )
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    result = _run(tmp_path / "script" / "run", tmp_path)
    assert "SETUP-RAN server" in result.stdout
    assert result.returncode == 3
