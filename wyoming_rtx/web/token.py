"""The status page's generated access token, kept in the data directory.

A page bound beyond loopback with no token given would hand every transcript, answer and the
browser satellite (which runs home actions) to anyone on the network. So the server makes one
up instead, keeps it in ``<data_dir>/http-token`` (mode 0600, directory 0700) so a bookmark
survives restarts, and prints it once, when it is made. Plain blocking file I/O: callers run
it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

TOKEN_FILE = "http-token"
TOKEN_BYTES = 24
"""32 URL-safe characters: beyond guessing, short enough to type from a log."""


class TokenStoreError(OSError):
    """The data directory cannot keep the token: the page must not start without one.

    An OSError so that the server's start-up error path (which reports OSError from
    ``App.start`` and exits 2) catches it."""


@dataclass(frozen=True)
class StoredToken:
    """The token, where it lives, and whether this start made it (then it is printed)."""

    value: str
    path: Path
    created: bool


def load_or_create(data_dir: Path) -> StoredToken:
    """The token in `data_dir`, made (atomically, 0600) when there is none yet."""
    path = data_dir / TOKEN_FILE
    try:
        existing = _read(path)
        if existing:
            return StoredToken(existing, path, created=False)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(TOKEN_BYTES)
        if _write_new(path, value, replace=existing == ""):
            return StoredToken(value, path, created=True)
        raced = _read(path)  # another process made it between our read and our write
        if not raced:
            raise FileNotFoundError(errno.ENOENT, "the token file vanished", str(path))
        return StoredToken(raced, path, created=False)
    except TokenStoreError:
        raise
    except OSError as err:
        raise TokenStoreError(
            f"cannot keep the status page's access token in {path}: "
            f"{err.strerror or err}. Make {data_dir} writable, choose another --data-dir, "
            "or give the token with --http-token-file or WYOMING_RTX_HTTP_TOKEN"
        ) from err


def _read(path: Path) -> str | None:
    """The first line of an existing token file, tightened to 0600; None if absent, "" if
    empty (then a fresh token replaces it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        try:
            path.chmod(0o600)  # readable by others: every local user could open the page
        except OSError as err:  # not ours, or read-only: still usable, but say so
            _LOGGER.warning("%s is readable by other users and cannot be made 0600: %s", path, err)
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def _write_new(path: Path, value: str, replace: bool = False) -> bool:
    """Write a complete file under a temporary name, then link it into place.

    The link fails if a token appeared meanwhile (False): two starts never hold different
    tokens, and a reader never sees a half-written file. `replace` overwrites (an empty file);
    so does a file system without hard links.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)  # mkstemp: 0600, a name no other start or thread uses
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(value + "\n")
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            os.replace(temporary, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
