"""The command line explains itself: every option has help and shows its default, and every
configuration error that can be found without loading a model stops the server before it
listens, exit 2, with one sentence that names the option (issue 22, point 7)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from wyoming_helpers import REPO

from wyoming_rtx.cli import build_parser
from wyoming_rtx.cli_help import _shows_default


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real server process; a configuration that slips through would listen and time out."""
    return subprocess.run(
        [sys.executable, "-m", "wyoming_rtx", "--no-zeroconf", "--uri", "tcp://127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )


def _bad_yaml(tmp: Path) -> str:
    path = tmp / "home.yaml"
    path.write_text("floors: [\n", encoding="utf-8")
    return str(path)


def _list_yaml(tmp: Path) -> str:
    path = tmp / "list.yaml"
    path.write_text("- kitchen\n", encoding="utf-8")
    return str(path)


def _voice_without_json(tmp: Path) -> str:
    path = tmp / "xx_XX-nobody-low.onnx"
    path.write_bytes(b"not a model")
    return str(path)


# (argv builder, the option the message must start with, a phrase of its sentence)
CASES: list[tuple[str, Callable[[Path], list[str]], str, str]] = [
    ("uri-port", lambda t: ["--uri", "tcp://localhost:notaport"], "--uri", "port must be a number"),
    ("uri-range", lambda t: ["--uri", "tcp://localhost:99999"], "--uri", "from 0 to 65535"),
    ("uri-scheme", lambda t: ["--uri", "http://0.0.0.0:1"], "--uri", "tcp://, unix://"),
    ("uri-no-port", lambda t: ["--uri", "tcp://localhost"], "--uri", "needs a host and a port"),
    ("http-uri", lambda t: ["--http-uri", "10901"], "--http-uri 10901:", "http://HOST:PORT"),
    ("http-port", lambda t: ["--http-uri", "http://0.0.0.0:x"], "--http-uri", "port from 0"),
    ("home-missing", lambda t: ["--home-file", str(t / "no.yaml")], "--home-file", "cannot read"),
    ("home-yaml", lambda t: ["--home-file", _bad_yaml(t)], "--home-file", "not valid YAML"),
    ("home-shape", lambda t: ["--home-file", _list_yaml(t)], "--home-file", "expected a mapping"),
    ("language", lambda t: ["--language", "xx"], "--language xx:", "no intents for 'xx'"),
    ("voices-dir", lambda t: ["--voices-dir", str(t / "none")], "--voices-dir", "no such folder"),
    ("voice-path", lambda t: ["--voice", str(t / "a.onnx")], "--voice", "no such voice file"),
    (
        "voice-json",
        lambda t: ["--voice", _voice_without_json(t)],
        "--voice",
        ".onnx.json is missing",
    ),
    ("write-timeout", lambda t: ["--write-timeout", "-1"], "--write-timeout -1:", "more than 0"),
    ("header-timeout", lambda t: ["--header-timeout", "0"], "--header-timeout 0:", "more than 0"),
    ("num-ctx", lambda t: ["--llm-num-ctx", "-5"], "--llm-num-ctx -5:", "1 token or more"),
    ("cpu-threads", lambda t: ["--cpu-threads", "-2"], "--cpu-threads -2:", "0 (CTranslate2"),
    ("beam-size", lambda t: ["--beam-size", "-1"], "--beam-size -1:", "0 (auto) or more"),
    ("max-text", lambda t: ["--max-text-chars", "0"], "--max-text-chars 0:", "1 or more"),
    ("length-scale", lambda t: ["--length-scale", "0"], "--length-scale 0:", "more than 0"),
    ("llm-timeout", lambda t: ["--llm-timeout", "0"], "--llm-timeout 0:", "more than 0"),
    (
        "first-token",
        lambda t: ["--llm-first-token-timeout", "-3"],
        "--llm-first-token-timeout -3:",
        "more than 0",
    ),
    ("ha-url", lambda t: ["--ha-url", "homeassistant", "--ha-token", "x"], "--ha-url", "http://"),
    ("ollama-url", lambda t: ["--ollama-url", "localhost:11434"], "--ollama-url", "http://"),
    ("llm-url", lambda t: ["--llm-url", "ftp://llm"], "--llm-url ftp://llm:", "https://"),
    ("compute-type", lambda t: ["--compute-type", "int9"], "--compute-type int9:", "int8_float16"),
    ("log-format", lambda t: ["--log-format", "%(oops"], "--log-format", "logging format"),
    ("allow", lambda t: ["--allow", "kitchen"], "--allow kitchen:", "not an address range"),
    ("keep-alive", lambda t: ["--llm-keep-alive", "30 min"], "--llm-keep-alive 30 min:", "30m"),
    ("token-file", lambda t: ["--http-token-file", str(t / "no")], "--http-token-file", "cannot"),
    ("key-file", lambda t: ["--llm-api-key-file", str(t / "k")], "--llm-api-key-file", "--llm-url"),
    ("turn-model", lambda t: ["--turn-model", str(t / "st.onnx")], "--turn-model", "no such file"),
]


@pytest.mark.parametrize(
    ("build", "option", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_configuration_error_is_one_sentence_before_listening(
    tmp_path: Path, build, option: str, phrase: str
) -> None:
    result = _run(*build(tmp_path))
    assert result.returncode == 2, result.stderr
    assert f"wyoming-rtx: error: {option}" in result.stderr
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    assert "Listening on" not in result.stderr
    # One sentence: the error is a single line after argparse's usage lines.
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1


def test_the_uri_error_reads_as_a_sentence() -> None:
    result = _run("--uri", "tcp://localhost:notaport")
    assert (
        "wyoming-rtx: error: --uri tcp://localhost:notaport: the port must be a number from 0 "
        "to 65535, e.g. tcp://0.0.0.0:10900"
    ) in result.stderr
    assert "Port could not be cast" not in result.stderr  # urllib's own words


def test_the_http_uri_error_names_the_option_once() -> None:
    result = _run("--http-uri", "10901")
    (line,) = [ln for ln in result.stderr.splitlines() if "error:" in ln]
    assert line.count("--http-uri") == 1, line


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in ("help", "version")]


def test_every_option_has_help_that_says_its_default() -> None:
    parser = build_parser()
    formatter = parser._get_formatter()
    missing = []
    for action in _options(parser):
        assert action.help, f"{action.option_strings[0]} has no help"
        text = formatter._expand_help(action)
        takes_value = action.nargs != 0
        if takes_value and "default:" not in text.lower():
            missing.append(action.option_strings[0])
    assert missing == []


def test_help_shows_defaults_and_never_an_empty_one() -> None:
    env = {**os.environ, "COLUMNS": "2000"}  # one line per option
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_rtx", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
        check=True,
    )
    # One block per option (its help may start on the next line), whitespace collapsed.
    blocks = [" ".join(b.split()) for b in re.split(r"\n(?=  -)", result.stdout)]
    for action in _options(build_parser()):
        if not _shows_default(action) or "default:" in (action.help or "").lower():
            continue
        block = next(b for b in blocks if b.startswith(action.option_strings[0] + " "))
        assert f"(default: {action.default})" in block, block
    for empty in ("(default: None)", "(default: False)", "(default: )", "(default: [])"):
        assert empty not in result.stdout
    assert "(default: llama3.2)" in result.stdout
    assert "(default: the bundled tiny.en)" in result.stdout
    assert "(default: auto)" in result.stdout  # --device


@pytest.mark.parametrize(
    ("default", "shown"),
    [(None, False), (False, False), ("", False), ([], False), (0, True), (0.0, True), ("x", True)],
)
def test_only_empty_defaults_are_left_out(default: object, shown: bool) -> None:
    action = argparse.Action(["--x"], "x", default=default, help="h")
    assert _shows_default(action) is shown


def test_a_compute_type_this_cpu_cannot_run_is_refused_before_listening() -> None:
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types("cpu")
    unsupported = [
        t for t in ("bfloat16", "float16", "int16", "int8_float16") if t not in supported
    ]
    if not unsupported:
        pytest.skip("this CPU runs every compute type")
    result = _run("--device", "cpu", "--compute-type", unsupported[0])
    assert result.returncode == 2, result.stderr
    assert f"wyoming-rtx: error: --compute-type {unsupported[0]}: this CPU cannot run it" in (
        result.stderr
    )
    assert "Listening on" not in result.stderr
