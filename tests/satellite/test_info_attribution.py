"""The satellite's ``info`` credits each piece to whoever made it.

openWakeWord's pre-trained models are CC BY-NC-SA 4.0 (non-commercial) by David Scripka,
not ours; a model the user brings is credited to nobody we could name. The engines are the
real ones, so the wake ids ``info`` lists are the ones the detector reports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wyoming.info import Info

from satellite.app import make_info
from satellite.core import CUSTOM_WAKE_ATTRIBUTION
from satellite.settings import SatelliteSettings, WakeSettings
from satellite.wake import make_engine, openwakeword_models_dir

OWW_URL = "https://github.com/dscripka/openWakeWord"


def _info(wake: WakeSettings) -> Info:
    settings = SatelliteSettings(wake=wake)
    return make_info(settings, make_engine(wake))


def test_satellite_program_is_ours_with_no_invented_url() -> None:
    info = _info(WakeSettings(names=("ok_nabu",)))
    assert info.satellite is not None
    assert info.satellite.attribution.name == "wyoming-rtx"
    assert info.satellite.attribution.url == ""


def test_openwakeword_models_credit_david_scripka_and_the_licence() -> None:
    info = _info(WakeSettings(engine="openwakeword", names=("ok_nabu", "hey_jarvis")))
    [program] = info.wake
    assert program.attribution.name == "David Scripka (openWakeWord)"
    assert program.attribution.url == OWW_URL
    assert [m.name for m in program.models] == ["ok_nabu", "hey_jarvis"]
    for model in program.models:
        assert "David Scripka" in model.attribution.name
        assert "CC BY-NC-SA 4.0" in model.attribution.name
        assert model.attribution.url == OWW_URL


def test_microwakeword_models_credit_kevin_ahrendt() -> None:
    info = _info(WakeSettings(engine="microwakeword", names=("okay_nabu",)))
    [program] = info.wake
    assert program.attribution.url == "https://github.com/OHF-Voice/pymicro-wakeword"
    [model] = program.models
    assert model.attribution.name.startswith("Kevin Ahrendt")
    assert model.attribution.url == "https://github.com/kahrendt/microWakeWord"


def test_a_model_given_by_path_is_not_credited_to_anyone_we_cannot_name(
    tmp_path: Path,
) -> None:
    custom = tmp_path / "my_word_v0.1.tflite"
    shutil.copy(openwakeword_models_dir() / "hey_jarvis.tflite", custom)
    info = _info(WakeSettings(engine="openwakeword", names=("ok_nabu", str(custom))))
    by_name = {m.name: m.attribution for m in info.wake[0].models}
    assert by_name["my_word"] == CUSTOM_WAKE_ATTRIBUTION
    assert "David Scripka" in by_name["ok_nabu"].name
