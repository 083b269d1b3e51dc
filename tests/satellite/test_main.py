"""Command line → settings, and the satellite's import footprint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from satellite.cli import build_parser, settings_from_args
from satellite.settings import SOUNDS_DIR
from wyoming_rtx.audio.endpoint import SATELLITE_RULES
from wyoming_rtx.cli_help import _shows_default


def parse(*argv: str):
    parser = build_parser()
    return settings_from_args(parser, parser.parse_args(list(argv)))


def test_flags_become_settings() -> None:
    settings = parse(
        "--name",
        "kitchen",
        "--area",
        "Kitchen",
        "--mic-command",
        "arecord -t raw",
        "--snd-file",
        "out.wav",
        "--wake-word",
        "hey_jarvis",
        "--wake-word",
        "alexa",
        "--wake-engine",
        "microwakeword",
        "--wake-threshold",
        "0.7",
        "--wake-trigger-level",
        "2",
        "--wake-refractory-seconds",
        "3",
        "--vad-silence-ms",
        "800",
        "--awake-wav",
        "none",
    )
    assert (settings.name, settings.area) == ("kitchen", "Kitchen")
    assert settings.mic.command == "arecord -t raw" and settings.mic.device is None
    assert settings.snd.file == Path("out.wav")
    assert settings.wake.names == ("hey_jarvis", "alexa")
    assert settings.wake.engine == "microwakeword"
    assert (settings.wake.threshold, settings.wake.trigger_level) == (0.7, 2)
    assert settings.wake.refractory_seconds == 3.0
    assert settings.vad.silence_ms == 800
    assert settings.vad.rules.silence_seconds == 0.8
    assert settings.snd.awake_wav is None
    assert settings.snd.done_wav == SOUNDS_DIR / "done.wav"


def test_defaults() -> None:
    settings = parse()
    assert settings.mic.device == "default"
    assert settings.wake.names == ("ok_nabu",)
    assert settings.vad.silence_ms == 500
    assert settings.vad.rules == SATELLITE_RULES  # the command line's defaults are the preset
    assert all(
        p is not None and p.is_file()
        for p in (settings.snd.awake_wav, settings.snd.done_wav, settings.snd.timer_finished_wav)
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--mic-command", "x", "--mic-file", "y.wav"],
        ["--snd-command", "x", "--snd-device", "default"],
        ["--server-uri", "tcp://a:1", "--ha-uri", "tcp://0.0.0.0:10700"],
    ],
)
def test_conflicting_flags_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_an_unknown_wake_word_is_one_clear_line(fixtures: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "satellite",
            "--wake-word",
            "hey_nobody",
            "--mic-file",
            str(fixtures / "wake_only.wav"),
            "--server-uri",
            "tcp://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown wake word 'hey_nobody'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_satellite_stays_light() -> None:
    """No faster-whisper, piper or server code is imported, nor openwakeword, tflite-runtime or
    ai-edge-litert (pyopen-wakeword runs the models on its own TensorFlow Lite library), nor
    onnxruntime on import (only the Smart Turn judge loads it, at start, when installed); of
    wyoming_rtx only the light shared audio package (VAD, end of turn), the stdlib-only
    LAN-address picker and the error classes may load."""
    code = (
        "import sys\n"
        "import satellite.__main__, satellite.app, satellite.wake, wyoming_rtx.audio.vad\n"
        "from satellite.settings import WakeSettings\n"
        "satellite.wake.make_engine(WakeSettings(names=('hey_jarvis',)))\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in"
        " ('faster_whisper', 'piper', 'ctranslate2', 'openwakeword', 'tflite_runtime',"
        " 'ai_edge_litert', 'onnxruntime')"
        " or (m.startswith('wyoming_rtx.')"
        " and not m.startswith('wyoming_rtx.audio')"
        " and m not in ('wyoming_rtx.lan', 'wyoming_rtx.cli_help', 'wyoming_rtx.errors'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"


def test_ha_allow_defaults_to_the_home_lan_and_is_validated() -> None:
    from satellite.cli import ha_settings_from_args
    from wyoming_rtx.lan import PRIVATE_NETWORKS

    parser = build_parser()
    ha = ha_settings_from_args(parser, parser.parse_args(["--ha-uri", "tcp://0.0.0.0:10700"]))
    assert ha is not None and ha.allow == PRIVATE_NETWORKS
    argv = ["--ha-uri", "tcp://0.0.0.0:10700", "--ha-allow", "192.168.1.10/32"]
    ha = ha_settings_from_args(parser, parser.parse_args([*argv, "--ha-allow", "fd00::/8"]))
    assert ha is not None and ha.allow == ("192.168.1.10/32", "fd00::/8")
    assert ha_settings_from_args(parser, parser.parse_args([])) is None  # direct mode
    for bad in (
        ["--ha-uri", "tcp://0.0.0.0:10700", "--ha-allow", "kitchen"],
        ["--ha-allow", "::/0"],
    ):
        with pytest.raises(SystemExit):
            ha_settings_from_args(parser, parser.parse_args(bad))


def _satellite(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real satellite process; a configuration that slipped through would run and time out."""
    return subprocess.run(
        [sys.executable, "-m", "satellite", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


SATELLITE_ERRORS = [
    (["--server-uri", "192.168.1.20:10900"], "--server-uri 192.168.1.20:10900:", "tcp://HOST"),
    (["--server-uri", "tcp://server:x"], "--server-uri tcp://server:x:", "tcp://HOST:PORT"),
    (["--ha-uri", "tcp://0.0.0.0:abc"], "--ha-uri tcp://0.0.0.0:abc:", "tcp://0.0.0.0:10700"),
    (["--mic-file", "/nonexistent/in.wav"], "--mic-file /nonexistent/in.wav:", "no such file"),
    (["--awake-wav", "/nonexistent/a.wav"], "--awake-wav /nonexistent/a.wav:", "'none'"),
    (["--vad-threshold", "2"], "--vad-threshold 2:", "between 0 and 1"),
    (["--wake-threshold", "0"], "--wake-threshold 0:", "at most 1"),
    (["--snd-rate", "-1"], "--snd-rate -1:", "more than 0"),
    (["--mic-width", "3.5"], "--mic-width", "invalid int"),
    (["--vad-silence-ms", "0"], "--vad-silence-ms 0:", "more than 0"),
    (["--response-timeout-seconds", "0"], "--response-timeout-seconds 0:", "more than 0"),
    (["--log-format", "%(oops"], "--log-format %(oops:", "logging format"),
]


@pytest.mark.parametrize(("argv", "option", "phrase"), SATELLITE_ERRORS)
def test_a_satellite_configuration_error_names_the_option(
    fixtures: Path, argv: list[str], option: str, phrase: str
) -> None:
    source = [] if "--mic-file" in argv else ["--mic-file", str(fixtures / "wake_only.wav")]
    target = [] if "uri" in argv[0] else ["--server-uri", "tcp://127.0.0.1:9"]
    proc = _satellite(*source, *target, *argv)
    assert proc.returncode == 2, proc.stderr
    assert "wyoming-rtx-satellite: error:" in proc.stderr and option in proc.stderr
    assert phrase in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_satellite_option_has_help_that_says_its_default() -> None:
    parser = build_parser()
    formatter = parser._get_formatter()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    for action in options:
        assert action.help, f"{action.option_strings[0]} has no help"
        if action.nargs != 0:  # a switch is off unless given; a value says its default
            text = formatter._expand_help(action)
            assert "default:" in text.lower(), action.option_strings[0]
    out = subprocess.run(
        [sys.executable, "-m", "satellite", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "2000"},  # one line per option
    ).stdout
    blocks = [" ".join(b.split()) for b in re.split(r"\n(?=  -)", out)]
    for action in options:
        if _shows_default(action) and "default:" not in (action.help or "").lower():
            block = next(b for b in blocks if b.startswith(action.option_strings[0] + " "))
            assert f"(default: {action.default})" in block, block
    for empty in ("(default: None)", "(default: False)", "(default: )"):
        assert empty not in out
    assert "(default: ok_nabu)" in out and "(default: 500)" in out  # --wake-word, --vad-silence-ms
