"""The add-on image really built and run: ``script/image`` with Debian's podman.

script/image makes the Dockerfile's base from Debian's packages (debootstrap) and tags it as
the image FROM names, builds the add-on image (WITH_CUDA=false) from the Dockerfile, starts
it with a test /data/options.json, waits for describe and "Ready", runs the image's own
HEALTHCHECK in the container and stops it. .ci/run installs podman, runc and debootstrap,
so in CI this test runs; it skips only where those tools (or root) are missing.

The GPU image (``script/image --gpu``) is not built here: its CUDA wheels are several GB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MISSING = [tool for tool in ("podman", "debootstrap") if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{', '.join(MISSING)} not installed (.ci/run installs them: "
        "apt-get install podman runc debootstrap)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="script/image runs rootful podman (needs root)"),
]


@pytest.mark.timeout(1200)  # base ~2 min (once per machine), build ~1.5 min, start ~10 s
def test_addon_image_builds_starts_answers_describe_and_is_healthy() -> None:
    result = subprocess.run(
        [str(ROOT / "script" / "image")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1150,
    )
    log = result.stdout + result.stderr
    print(log)  # the build and run lines, in the test report with -rA or on failure
    assert result.returncode == 0, log
    assert "script/image: run: describe answered" in log
    assert "asr=['tiny.en']" in log and "tts=['en_US-joe-medium']" in log
    assert "script/image: run: Ready after" in log
    assert "script/image: healthcheck: passed" in log
    assert '["CMD","python","-m","addon.healthcheck"]' in log
    assert "script/image: stop: exit code 0 after SIGTERM" in log
    assert log.rstrip().endswith("script/image: OK")
