"""The generated token's file on a real file system: made once, never two, never readable by
others, and an error that says what to do when it cannot be kept."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wyoming_rtx.web.token import TokenStoreError, load_or_create


def test_made_once_then_read_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "a" / "b"
    first = load_or_create(data_dir)
    assert first.created and first.path == data_dir / "http-token"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    again = load_or_create(data_dir)
    assert again.value == first.value and not again.created
    assert [p.name for p in data_dir.iterdir()] == ["http-token"]  # no temporary left over


def test_concurrent_starts_agree_on_one_token(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: load_or_create(tmp_path), range(16)))
    assert len({r.value for r in results}) == 1
    assert sum(r.created for r in results) == 1


def test_a_user_written_token_is_used_and_tightened(tmp_path: Path) -> None:
    path = tmp_path / "http-token"
    path.write_text("my-own-token\nignored second line\n")
    path.chmod(0o644)
    stored = load_or_create(tmp_path)
    assert stored.value == "my-own-token" and not stored.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_empty_file_gets_a_fresh_token(tmp_path: Path) -> None:
    (tmp_path / "http-token").write_text("\n")
    stored = load_or_create(tmp_path)
    assert stored.created and len(stored.value) >= 32
    assert (tmp_path / "http-token").read_text().strip() == stored.value


def test_unusable_data_dir_says_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TokenStoreError) as raised:
        load_or_create(blocker / "data")
    assert isinstance(raised.value, OSError)  # the server's start-up error path catches it
    message = str(raised.value)
    assert str(blocker / "data" / "http-token") in message
    assert "--data-dir" in message and "--http-token-file" in message
