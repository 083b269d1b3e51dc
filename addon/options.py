"""Add-on options (``/data/options.json``) → ``python -m wyoming_rtx`` flags.

The server's command line is the only configuration surface (settings.py), so the add-on
never configures the server any other way: ``OPTION_FLAGS`` is the one table that says which
flag each add-on option becomes. The tests check that this table, the ``schema`` in
config.yaml, translations/en.yaml and the option sections of DOCS.md name the same options.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wyoming_rtx.settings import DEFAULT_PORT

_LOGGER = logging.getLogger(__name__)

DEFAULT_OPTIONS_PATH = Path("/data/options.json")
"""Where the Supervisor writes the user's options."""

DEFAULT_CONFIG_DIR = Path("/config")
"""``map: addon_config:rw`` mounts /addon_configs/<repo>_wyoming_rtx here."""

SUPERVISOR_CORE_URL = "http://supervisor/core"
"""Home Assistant's API as an add-on with ``homeassistant_api: true`` reaches it."""

VOICES_SUBDIR = "voices"
MODELS_SUBDIR = "models"

HOME_HOME_ASSISTANT = "home_assistant"
HOME_FILE = "file"
HOME_DEMO = "demo"

ADDON_ALWAYS_ALLOWED = ("127.0.0.0/8", "::1/128", "172.30.32.0/23", "fd0c:ac1e:2100::/48")
"""Served whatever ``allow`` says: the add-on's own health checks (loopback) and the
Supervisor's ``hassio`` network, over which Home Assistant and the Supervisor's watchdog
connect (``DOCKER_IPV4_NETWORK_MASK`` and ``DOCKER_IPV6_NETWORK_MASK`` in the Supervisor's
``supervisor/const.py``). A narrow ``allow`` must never lock Home Assistant out."""

INGRESS_PORT = 10901
"""The status page's port inside the add-on: config.yaml's ``ingress_port`` (the server's own
default status port, so the page is at the same port in and out of the add-on)."""

INGRESS_PROXY = "172.30.32.2"
"""The Supervisor's ingress proxy. Home Assistant's developer docs (add-ons, "Presenting your
add-on", Ingress): accept only connections from 172.30.32.2 on the ingress port and treat them
as authenticated; Home Assistant has already checked the user's session."""

SECRET_FLAGS = frozenset({"--ha-token", "--http-token"})
"""Flags whose value never reaches a log line."""


class OptionsError(Exception):
    """The options cannot start a working server; the message tells the user what to fix."""


@dataclass(frozen=True)
class AddonContext:
    """What the mapping needs besides the options themselves."""

    config_dir: Path = DEFAULT_CONFIG_DIR
    port: int = DEFAULT_PORT
    supervisor_token: str | None = None
    ingress_port: int = INGRESS_PORT
    ingress_proxy: str = INGRESS_PROXY
    """Only tests change it (a second loopback address stands in for the proxy)."""


ToArgs = Callable[[Any, Mapping[str, Any], AddonContext], list[str]]


@dataclass(frozen=True)
class OptionFlag:
    """One row of the table: an add-on option and how it becomes server flags."""

    option: str
    flag: str
    """The server flag this option feeds (for the docs and the report; ``to_args`` emits it)."""
    to_args: ToArgs


def _value(flag: str) -> ToArgs:
    """Pass the value through; unset (None or blank) means the server's own default."""

    def to_args(value: Any, _options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
        if value is None or (isinstance(value, str) and not value.strip()):
            return []
        return [flag, str(value)]

    return to_args


def _switch(flag: str) -> ToArgs:
    """A bool option that turns a store-true flag on."""

    def to_args(value: Any, _options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
        return [flag] if value is True else []

    return to_args


def resolve_in_config(value: str, config_dir: Path) -> str:
    """A value naming something in the add-on config folder becomes its absolute path.

    ``asr_model`` and ``voice`` take either a name (``small-int8``,
    ``Systran/faster-whisper-small``, ``en_GB-alan-medium``) or a file/folder the user copied
    into the config folder. Only an existing entry there is turned into a path, so a hub name
    with a slash stays a name.
    """
    candidate = Path(value)
    if candidate.is_absolute():
        return value
    in_config = config_dir / candidate
    return str(in_config) if in_config.exists() else value


def _path_or_name(flag: str) -> ToArgs:
    def to_args(value: Any, _options: Mapping[str, Any], ctx: AddonContext) -> list[str]:
        if value is None or not str(value).strip():
            return []
        return [flag, resolve_in_config(str(value).strip(), ctx.config_dir)]

    return to_args


def _language(value: Any, _options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
    """``auto`` leaves the language to the model (and the intents to English)."""
    if value is None or value == "auto":
        return []
    return ["--language", str(value)]


def _home_source(value: Any, _options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
    """Inside the add-on the home is Home Assistant itself, through the Supervisor proxy.

    The token is not put on the command line (``ps`` shows it); ``server_env`` hands it over
    as ``HA_TOKEN``.
    """
    if value == HOME_HOME_ASSISTANT:
        return ["--ha-url", SUPERVISOR_CORE_URL]
    if value in (HOME_FILE, HOME_DEMO):
        return []
    raise OptionsError(f"home_source must be home_assistant, file or demo, not {value!r}")


def _home_file(value: Any, options: Mapping[str, Any], ctx: AddonContext) -> list[str]:
    """Only read when home_source is ``file``; checked here so a typo is one clear line."""
    if options.get("home_source") != HOME_FILE:
        return []
    if value is None or not str(value).strip():
        raise OptionsError("home_source is 'file' but home_file is empty")
    path = Path(str(value).strip())
    if not path.is_absolute():
        path = ctx.config_dir / path
    if not path.is_file():
        raise OptionsError(
            f"home file {path} not found: copy your home file into the add-on's config "
            "folder (/addon_configs/<repository>_wyoming_rtx) or choose another home_source"
        )
    return ["--home-file", str(path)]


def _allow_download(value: Any, _options: Mapping[str, Any], ctx: AddonContext) -> list[str]:
    """Downloads land in the config folder so they survive updates (and skip backups)."""
    if value is not True:
        return []
    return ["--allow-download", "--download-dir", str(ctx.config_dir / MODELS_SUBDIR)]


LLM_API_KEY_ENV = "WYOMING_RTX_LLM_API_KEY"
"""How the server takes the OpenAI-compatible API's key: never argv, where ``ps`` shows it."""


def _blank(value: Any) -> bool:
    return value is None or not str(value).strip()


def _llm_url(value: Any, options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
    """An OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio) instead of Ollama.

    The server allows one LLM backend; said here, the user reads it in the add-on's log
    instead of a usage error from the server's argument parser."""
    if _blank(value):
        return []
    if not _blank(options.get("ollama_url")):
        raise OptionsError("set either ollama_url or llm_url, not both (one LLM backend)")
    return ["--llm-url", str(value).strip()]


def _llm_api_key(value: Any, options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
    """No flag: ``server_env`` hands the key over as WYOMING_RTX_LLM_API_KEY."""
    if not _blank(value) and _blank(options.get("llm_url")):
        raise OptionsError("llm_api_key is set but llm_url is empty: the key is for llm_url")
    return []


def _allow(value: Any, _options: Mapping[str, Any], _ctx: AddonContext) -> list[str]:
    """Ranges (commas or spaces between them) → one ``--allow`` each, after the ranges the
    add-on always serves. Empty: no flag, the server's default (loopback and private ranges,
    which already include the Supervisor's network)."""
    if value is None or not str(value).strip():
        return []
    ranges: list[str] = []
    for cidr in filter(None, re.split(r"[\s,]+", str(value))):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise OptionsError(
                f"allow: {cidr!r} is not an address range such as 192.168.1.0/24 or 2001:db8::/64"
            ) from None
        ranges.append(cidr)
    args: list[str] = []
    for cidr in dict.fromkeys([*ADDON_ALWAYS_ALLOWED, *ranges]):
        args += ["--allow", cidr]
    return args


OPTION_FLAGS: tuple[OptionFlag, ...] = (
    OptionFlag("asr_model", "--asr-model", _path_or_name("--asr-model")),
    OptionFlag("language", "--language", _language),
    OptionFlag("beam_size", "--beam-size", _value("--beam-size")),
    OptionFlag("cpu_threads", "--cpu-threads", _value("--cpu-threads")),
    OptionFlag("initial_prompt", "--initial-prompt", _value("--initial-prompt")),
    OptionFlag("allow_download", "--allow-download", _allow_download),
    OptionFlag("voice", "--voice", _path_or_name("--voice")),
    OptionFlag("speaker", "--speaker", _value("--speaker")),
    OptionFlag("home_source", "--ha-url", _home_source),
    OptionFlag("home_file", "--home-file", _home_file),
    OptionFlag("reply_mode", "--reply-mode", _value("--reply-mode")),
    OptionFlag("ollama_url", "--ollama-url", _value("--ollama-url")),
    OptionFlag("llm_url", "--llm-url", _llm_url),
    OptionFlag("llm_api_key", "--llm-url", _llm_api_key),
    OptionFlag("llm_model", "--llm-model", _value("--llm-model")),
    OptionFlag("llm_prompt", "--llm-prompt", _value("--llm-prompt")),
    OptionFlag("allow", "--allow", _allow),
    OptionFlag("debug_logging", "--debug", _switch("--debug")),
)
"""The one table: add-on option → server flag(s)."""


def ingress_args(ctx: AddonContext) -> list[str]:
    """The status page as the add-on's ingress panel.

    Bound on every interface because the Supervisor's proxy connects to the add-on's address
    on its network; the trusted proxy makes the server answer that one address only (anyone
    else gets 403) and need no token of its own, since Home Assistant authenticates the user.
    The page honours ``X-Ingress-Path``, so its links work under /api/hassio_ingress/<id>/.
    """
    return [
        "--http-uri",
        f"http://0.0.0.0:{ctx.ingress_port}",
        "--http-trusted-proxy",
        ctx.ingress_proxy,
    ]


def fixed_args(ctx: AddonContext) -> list[str]:
    """Flags every add-on start gets, whatever the options.

    Zeroconf is off inside the add-on: the Supervisor's discovery already tells Home
    Assistant, and an mDNS announcement from the add-on network would name a 172.30.x
    address that no satellite on the LAN can reach, and a second, duplicate discovery.
    """
    args = ["--uri", f"tcp://0.0.0.0:{ctx.port}", "--no-zeroconf", *ingress_args(ctx)]
    voices_dir = ctx.config_dir / VOICES_SUBDIR
    if voices_dir.is_dir():
        args += ["--voices-dir", str(voices_dir)]
    return args


def build_server_args(options: Mapping[str, Any], ctx: AddonContext) -> list[str]:
    """The server's command line for these options (without the ``python -m`` part)."""
    known = {row.option for row in OPTION_FLAGS}
    for unknown in sorted(set(options) - known):
        # An option left over from an older add-on version: harmless, but say so once.
        _LOGGER.warning("Ignoring unknown add-on option %s", unknown)
    args = fixed_args(ctx)
    for row in OPTION_FLAGS:
        args += row.to_args(options.get(row.option), options, ctx)
    return args


def server_env(
    options: Mapping[str, Any], ctx: AddonContext, base: Mapping[str, str]
) -> dict[str, str]:
    """The server's environment: the caller's, plus the HA token when the home is HA and the
    LLM API's key when one is set (secrets travel here, never on the command line)."""
    env = dict(base)
    if not _blank(options.get("llm_api_key")):
        env[LLM_API_KEY_ENV] = str(options["llm_api_key"]).strip()
    if options.get("home_source") == HOME_HOME_ASSISTANT:
        if not ctx.supervisor_token:
            raise OptionsError(
                "home_source is 'home_assistant' but SUPERVISOR_TOKEN is not set: "
                "is homeassistant_api enabled for the add-on?"
            )
        env["HA_TOKEN"] = ctx.supervisor_token
    return env


def redact(args: list[str]) -> list[str]:
    """A copy of the command line that is safe to log."""
    safe = list(args)
    for i, arg in enumerate(safe[:-1]):
        if arg in SECRET_FLAGS:
            safe[i + 1] = "***"
    return safe


def load_options(path: Path) -> dict[str, Any]:
    """Read options.json; a missing or broken file is an ``OptionsError``, not a traceback."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise OptionsError(f"options file {path} not found (not running as an add-on?)") from err
    except (OSError, ValueError) as err:
        raise OptionsError(f"cannot read options file {path}: {err}") from err
    if not isinstance(data, dict):
        raise OptionsError(f"options file {path} does not hold a JSON object")
    return data
