"""Configuration checks run before anything listens: each bad value is a usage error (exit 2)
with one sentence naming its option, instead of a failure after "Listening" or none at all.

`cli` parses; this module judges what was parsed; secrets given as files or environment
variables are read here too, so they never need to appear on the command line.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import yaml

from .errors import ModelNotFoundError
from .language import primary_language
from .settings import TtsSettings

COMPUTE_TYPES = (
    "auto",
    "default",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
"""CTranslate2's compute type names: a typo is a usage error, not a failed model load after
"Listening" (whether the device supports the type is CTranslate2's to decide at load)."""


_NUMBER_RULES: tuple[tuple[str, str, Callable[[float], bool], str], ...] = (
    ("beam_size", "--beam-size", lambda v: v >= 0, "must be 0 (auto) or more"),
    ("cpu_threads", "--cpu-threads", lambda v: v >= 0, "must be 0 (CTranslate2's choice) or more"),
    (
        "asr_window_seconds",
        "--asr-window-seconds",
        lambda v: v == 0 or 5 <= v <= 30,
        "must be 0 (full window) or between 5 and 30",
    ),
    (
        "asr_command_window_seconds",
        "--asr-command-window-seconds",
        lambda v: v == 0 or 5 <= v <= 30,
        "must be 0 (auto) or between 5 and 30",
    ),
    ("max_audio_seconds", "--max-audio-seconds", lambda v: v > 0, "must be more than 0"),
    ("header_timeout", "--header-timeout", lambda v: v > 0, "must be more than 0 seconds"),
    ("write_timeout", "--write-timeout", lambda v: v > 0, "must be more than 0 seconds"),
    ("max_text_chars", "--max-text-chars", lambda v: v >= 1, "must be 1 or more"),
    ("tts_parallel", "--tts-parallel", lambda v: v >= 1, "must be 1 or more"),
    ("tts_cache_mb", "--tts-cache-mb", lambda v: v >= 0, "must be 0 (off) or more"),
    ("length_scale", "--length-scale", lambda v: v > 0, "must be more than 0"),
    ("noise_scale", "--noise-scale", lambda v: v >= 0, "must be 0 or more"),
    ("noise_w_scale", "--noise-w-scale", lambda v: v >= 0, "must be 0 or more"),
    ("llm_num_ctx", "--llm-num-ctx", lambda v: v >= 1, "must be 1 token or more"),
    ("llm_timeout", "--llm-timeout", lambda v: v > 0, "must be more than 0 seconds"),
    (
        "llm_first_token_timeout",
        "--llm-first-token-timeout",
        lambda v: v > 0,
        "must be more than 0 seconds",
    ),
)
"""(attribute, option, rule, what the rule says): a bad number is a usage error at once,
not a failure minutes later (a negative timeout drops every client, a negative thread count
fails the model load after "Listening")."""


def _check_numbers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Every numeric option within its range (None = not given, the component's own)."""
    for attr, option, rule, text in _NUMBER_RULES:
        value = getattr(args, attr)
        if value is not None and not rule(value):
            parser.error(f"{option} {value:g}: it {text}")


_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+|0")
"""What Ollama accepts as a keep_alive string (Go's time.ParseDuration): 30m, 1h30m, -1h, 0."""


def _check_keep_alive(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Ollama refuses a malformed keep_alive on every request; say so at start instead."""
    if not _GO_DURATION.fullmatch(args.llm_keep_alive.strip()):
        parser.error(
            f"--llm-keep-alive {args.llm_keep_alive}: it must be a duration such as 30m, 1h30m, "
            "-1h (keep the model loaded) or 0 (unload at once)"
        )


def _check_addresses(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--uri, --http-uri, --allow and the HTTP(S) URLs, before anything is bound or dialled."""
    from .protocol.listener import parse_uri

    try:
        parse_uri(args.uri)
    except ValueError as err:
        parser.error(f"--uri {err}")
    if args.http_uri:
        from .web import parse_http_uri

        try:
            parse_http_uri(args.http_uri)
        except ValueError as err:
            parser.error(f"--http-uri {err}")
    for cidr in args.allow or ():
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            parser.error(f"--allow {cidr}: not an address range such as 192.168.1.0/24")
    for option, example in (
        ("--ha-url", "http://homeassistant.local:8123"),
        ("--ollama-url", "http://127.0.0.1:11434"),
        ("--llm-url", "http://127.0.0.1:8000/v1"),
    ):
        url = getattr(args, option[2:].replace("-", "_"))
        if url and not _is_http_url(url):
            parser.error(f"{option} {url}: it must be an http:// or https:// URL, e.g. {example}")


def _is_http_url(url: str) -> bool:
    """http(s)://HOST[:PORT][/path] with a numeric port when one is given."""
    parsed = urlparse(url)
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _check_files(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The files and folders the options name exist and read, so no error waits for a load."""
    if args.home_file:
        _check_home_file(args.home_file, parser)
    for folder in args.voices_dir:
        if not folder.is_dir():
            parser.error(f"--voices-dir {folder}: no such folder")
    if "/" in args.voice:  # a path, as the voice resolver reads it; a name is looked up later
        voice = Path(args.voice).expanduser()
        if not voice.is_file():
            parser.error(f"--voice {args.voice}: no such voice file")
        if not Path(f"{voice}.json").is_file():
            parser.error(f"--voice {args.voice}: its {voice.name}.json is missing beside it")
    if args.log_format:
        try:
            logging.Formatter(args.log_format, validate=True)
        except ValueError:
            parser.error(
                f"--log-format {args.log_format}: not a Python logging format such as "
                "'%(levelname)s %(name)s: %(message)s'"
            )


def _check_home_file(path: Path, parser: argparse.ArgumentParser) -> None:
    """The home file reads, is YAML and is a home: the same parse the start-up does later."""
    from .home.home_file import HomeFileError, parse_home

    try:
        parse_home(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    except OSError as err:
        parser.error(f"--home-file {path}: cannot read it ({err.strerror})")
    except yaml.YAMLError as err:
        parser.error(f"--home-file {path}: it is not valid YAML ({_yaml_problem(err)})")
    except HomeFileError as err:
        parser.error(f"--home-file {path}: {str(err).removeprefix(f'{path}: ')}")


def _yaml_problem(err: yaml.YAMLError) -> str:
    """YAML's multi-line message as one phrase with the line and column a person can find."""
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _check_models(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Names that can be checked without loading a model: compute type, intents language."""
    if args.compute_type not in COMPUTE_TYPES:
        parser.error(
            f"--compute-type {args.compute_type}: not a CTranslate2 compute type; "
            f"use one of {', '.join(COMPUTE_TYPES)}"
        )
    if args.device == "cpu" and args.compute_type not in ("auto", "default"):
        _check_cpu_compute_type(args.compute_type, parser)
    language = primary_language(args.language) or "en"
    from home_assistant_intents import get_languages

    if language not in get_languages():
        parser.error(
            f"--language {args.language}: there are no intents for {language!r}; "
            f"available: {', '.join(sorted(get_languages()))}"
        )


def _check_cpu_compute_type(compute_type: str, parser: argparse.ArgumentParser) -> None:
    """On --device cpu, CTranslate2 refuses a type this CPU cannot run (float16, bfloat16,
    int16 on most) only when it loads the model, after "Listening"; asking it costs 0.1 s."""
    import ctranslate2

    supported = sorted(ctranslate2.get_supported_compute_types("cpu"))
    if compute_type not in supported:
        parser.error(
            f"--compute-type {compute_type}: this CPU cannot run it; with --device cpu use "
            f"auto or one of {', '.join(supported)}"
        )


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Every check that needs only the parsed flags (the voice is checked once it is resolved)."""
    _check_numbers(args, parser)
    _check_keep_alive(args, parser)
    _check_addresses(args, parser)
    _check_files(args, parser)
    _check_models(args, parser)


def read_llm_api_key(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The OpenAI-compatible API's key from a file or WYOMING_RTX_LLM_API_KEY (never argv)."""
    if args.llm_api_key_file:
        try:
            lines = args.llm_api_key_file.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            parser.error(
                f"--llm-api-key-file {args.llm_api_key_file}: cannot read it ({err.strerror})"
            )
        return lines[0].strip() if lines and lines[0].strip() else None
    return os.environ.get("WYOMING_RTX_LLM_API_KEY") or None


def read_http_token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str | None:
    """The status page's token from the flag, a file, or WYOMING_RTX_HTTP_TOKEN (in that order)."""
    if args.http_token and args.http_token_file:
        parser.error("use either --http-token or --http-token-file, not both")
    if args.http_token_file:
        try:
            lines = args.http_token_file.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            parser.error(
                f"--http-token-file {args.http_token_file}: cannot read it ({err.strerror})"
            )
        token = lines[0].strip() if lines else ""
        if not token:
            parser.error(f"--http-token-file {args.http_token_file}: the file is empty")
        return token
    return args.http_token or os.environ.get("WYOMING_RTX_HTTP_TOKEN") or None


def check_voice(tts: TtsSettings, parser: argparse.ArgumentParser) -> None:
    """A --voice name that no voices folder holds is the option's error, said before anything
    listens (the engine would refuse it the same way a moment later, naming no option)."""
    if not tts.voice:
        return
    from .tts.voices import discover_voices  # light: reads the voices' JSON, loads no model

    try:
        discover_voices(tts)
    except ModelNotFoundError as err:
        parser.error(f"--voice {tts.voice}: {err}")
