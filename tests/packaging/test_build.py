"""The package builds cleanly: bounded build requirements, an SPDX licence, no deprecation
warning (setuptools announced that builds with a `license = { text = ... }` table stop working
after 2027-02-18)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from wyoming_helpers import REPO


def test_build_requirements_are_bounded() -> None:
    """Every build requirement has an upper bound: a new setuptools cannot change a build."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for requirement in pyproject["build-system"]["requires"]:
        assert "<" in requirement, f"unbounded build requirement {requirement!r}"
    assert pyproject["project"]["license"] == "MIT"
    assert (REPO / "LICENSE").is_file()


def test_the_wheel_builds_without_a_deprecation_warning(tmp_path: Path) -> None:
    """`pip wheel .` in an isolated build environment, as every install does: no deprecation
    warning in its verbose output, and the wheel carries the SPDX expression and the licence."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-v", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "deprecat" not in output.lower(), [
        line for line in output.splitlines() if "deprecat" in line.lower()
    ]
    (wheel,) = tmp_path.glob("wyoming_rtx-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
        assert "License-Expression: MIT" in text
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist())
