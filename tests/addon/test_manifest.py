"""config.yaml, translations/en.yaml, DOCS.md and repository.yaml against the Supervisor's rules.

A manifest the Supervisor rejects fails silently: the store logs a warning and the add-on
never shows up. So the rules are written down here, transcribed from the Supervisor's
published sources (``supervisor/addons/validate.py`` ``_SCHEMA_ADDON_CONFIG``,
``supervisor/addons/options.py`` ``RE_SCHEMA_ELEMENT``, ``supervisor/addons/const.py``
``RE_SLUG``, ``supervisor/validate.py`` ``docker_ports``, ``supervisor/store/data.py``) and the
developer docs (docs/add-ons/configuration.md).
"""

from __future__ import annotations

import os
import re
import struct
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from addon.options import INGRESS_PORT, INGRESS_PROXY, OPTION_FLAGS, AddonContext, fixed_args

ROOT = Path(__file__).resolve().parents[2]

# supervisor/const.py ARCH_ALL
ARCH_ALL = {"armhf", "armv7", "aarch64", "amd64", "i386"}
# supervisor/addons/const.py RE_SLUG; the project keeps to HA's own stricter convention too.
RE_SLUG_SUPERVISOR = re.compile(r"^[-_.A-Za-z0-9]+$")
RE_SLUG_PROJECT = re.compile(r"^[a-z0-9_]+$")
# supervisor/addons/options.py RE_SCHEMA_ELEMENT
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
# supervisor/addons/validate.py watchdog
RE_WATCHDOG = re.compile(r"^(?:https?|\[PROTO:\w+\]|tcp):\/\/\[HOST\]:(\[PORT:\d+\]|\d+).*$")
# supervisor/validate.py docker_port
RE_DOCKER_PORT = re.compile(r"^\d+(?:/tcp|/udp)?$")
# supervisor/addons/validate.py RE_VOLUME
RE_VOLUME = re.compile(
    r"^(data|config|ssl|addons|backup|share|media|homeassistant_config|all_addon_configs"
    r"|addon_config)(?::(rw|ro))?$"
)
# supervisor/addons/validate.py: version_tag accepts a string (a bare YAML float would not
# survive 0.1.0-style versions); the docs list the required keys.
REQUIRED: dict[str, type] = {
    "name": str,
    "version": str,
    "slug": str,
    "description": str,
    "arch": list,
}
# Optional keys this manifest uses, with the types _SCHEMA_ADDON_CONFIG gives them.
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "startup": str,
    "boot": str,
    "init": bool,
    "discovery": list,
    "homeassistant_api": bool,
    "map": list,
    "ports": dict,
    "ports_description": dict,
    "watchdog": str,
    "timeout": int,
    "backup_exclude": list,
    "options": dict,
    "schema": dict,
    "image": str,
    "ingress": bool,
    "ingress_port": int,
    "panel_icon": str,
    "panel_title": str,
    "panel_admin": bool,
}
STARTUP = {"initialize", "system", "services", "application", "once"}
BOOT = {"auto", "manual", "manual_only"}
RE_DOCS_OPTION = re.compile(r"^### Option: `([a-z0-9_]+)`\s*$", re.MULTILINE)


def _load(name: str) -> Any:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return _load("config.yaml")


@pytest.fixture(scope="module")
def translations() -> dict[str, Any]:
    return _load("translations/en.yaml")


def _port_of(key: str) -> int:
    return int(key.split("/")[0])


def _validate_value(kind: str, value: Any) -> None:
    """Check a default against its schema element as the Supervisor's options check would."""
    match = RE_SCHEMA_ELEMENT.match(kind)
    assert match, kind
    base = kind.rstrip("?")
    if base == "bool":
        assert isinstance(value, bool)
    elif base.startswith("int"):
        assert isinstance(value, int) and not isinstance(value, bool)
        lo, hi = match.group("i_min"), match.group("i_max")
        assert lo is None or value >= int(lo)
        assert hi is None or value <= int(hi)
    elif base.startswith("float"):
        assert isinstance(value, int | float)
    elif base.startswith("str") or base.startswith("password"):
        assert isinstance(value, str)
    elif base == "url":
        assert re.match(r"^https?://", value)
    elif base.startswith("list("):
        assert value in match.group("list").split("|")
    elif base.startswith("match("):
        assert re.fullmatch(match.group("match"), str(value))
    elif base == "port":
        assert 1 <= int(value) <= 65535


def test_required_keys_and_types(config: dict[str, Any]) -> None:
    for key, kind in REQUIRED.items():
        assert isinstance(config.get(key), kind), f"{key} missing or not {kind.__name__}"
    for key, kind in OPTIONAL_TYPES.items():
        if key in config:
            assert isinstance(config[key], kind), f"{key} is not {kind}"
    assert config["name"].strip() and config["description"].strip()


def test_slug(config: dict[str, Any]) -> None:
    assert RE_SLUG_SUPERVISOR.match(config["slug"])
    assert RE_SLUG_PROJECT.match(config["slug"])


def test_arch(config: dict[str, Any]) -> None:
    assert config["arch"], "at least one arch"
    assert set(config["arch"]) <= ARCH_ALL
    assert {"amd64", "aarch64"} <= set(config["arch"])


def test_version_matches_package(config: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert config["version"] == project["version"]


def test_addon_points(config: dict[str, Any]) -> None:
    """DESIGN §3: the add-on keys the contract asks for."""
    assert config["init"] is False
    assert "wyoming" in config["discovery"]
    assert config["homeassistant_api"] is True
    assert "addon_config:rw" in config["map"]
    assert all(RE_VOLUME.match(entry) for entry in config["map"])
    assert config["startup"] in STARTUP
    assert config["boot"] in BOOT
    assert 10 <= config["timeout"] <= 300
    assert config["backup_exclude"] and all(isinstance(p, str) for p in config["backup_exclude"])


def test_ports_consistent(config: dict[str, Any], translations: dict[str, Any]) -> None:
    ports = config["ports"]
    assert ports, "the Wyoming port is declared (the user may publish it)"
    # Not published on the host by default: Home Assistant reaches the add-on over the
    # Supervisor's internal network; "If the host port is null then the mapping is disabled"
    # (developers.home-assistant docs/add-ons/configuration.md, `ports`).
    assert all(host_port is None for host_port in ports.values()), ports
    for key, host_port in ports.items():
        assert RE_DOCKER_PORT.match(str(key)), key
        assert host_port is None or 1 <= host_port <= 65535
    assert set(config["ports_description"]) == set(ports)
    assert set(translations["network"]) == set(ports)
    watchdog = RE_WATCHDOG.match(config["watchdog"])
    assert watchdog, config["watchdog"]
    watched = int(re.sub(r"\D", "", watchdog.group(1)))
    assert f"{watched}/tcp" in ports
    from wyoming_rtx.settings import DEFAULT_PORT

    assert watched == DEFAULT_PORT


def test_schema_elements_are_supervisor_types(config: dict[str, Any]) -> None:
    for key, kind in config["schema"].items():
        assert isinstance(kind, str) and RE_SCHEMA_ELEMENT.match(kind), f"{key}: {kind!r}"


def test_options_and_schema_agree(config: dict[str, Any]) -> None:
    """Every default has a schema entry; a schema entry without a default is optional.

    The Supervisor refuses to start an add-on whose required (non-``?``) option has no
    value, and the docs say a truly optional option has ``?`` and *no* default.
    """
    options, schema = config["options"], config["schema"]
    assert set(options) <= set(schema), set(options) - set(schema)
    for key in set(schema) - set(options):
        assert schema[key].endswith("?"), f"{key} has no default and is not optional"
    for key in set(options):
        assert not schema[key].endswith("?"), f"{key} is optional but has a default"
        _validate_value(schema[key], options[key])


def test_ingress_is_the_status_page(config: dict[str, Any]) -> None:
    """The panel opens the server's status page, served to the ingress proxy only.

    Keys and defaults from the Supervisor's ``_SCHEMA_ADDON_CONFIG`` (``ingress`` bool,
    ``ingress_port`` a network port, ``panel_icon`` a string defaulting to ``mdi:puzzle``,
    ``panel_admin`` bool defaulting to true) and docs/add-ons/presentation.md (only
    172.30.32.2 may connect to the ingress port; ``X-Ingress-Path`` names the base path).
    """
    from wyoming_rtx.web.access import INGRESS_PROXY as SERVER_INGRESS_PROXY
    from wyoming_rtx.web.app import DEFAULT_HTTP_PORT

    assert config["ingress"] is True
    assert config["ingress_port"] == INGRESS_PORT == DEFAULT_HTTP_PORT
    assert INGRESS_PROXY == SERVER_INGRESS_PROXY == "172.30.32.2"
    assert re.fullmatch(r"mdi:[a-z0-9-]+", config["panel_icon"])
    assert config["panel_title"].strip()
    # The page's Talk button runs home actions: administrators only (the Supervisor's default,
    # said explicitly so a later edit has to mean it).
    assert config["panel_admin"] is True
    assert "ingress_entry" not in config, "the page is at / of its port"
    # Ingress needs no host port: the status port is not in `ports`.
    assert f"{INGRESS_PORT}/tcp" not in config["ports"]
    args = fixed_args(AddonContext())
    assert args[args.index("--http-uri") + 1] == f"http://0.0.0.0:{config['ingress_port']}"
    assert args[args.index("--http-trusted-proxy") + 1] == "172.30.32.2"


def _translation_files() -> list[Path]:
    return sorted((ROOT / "translations").glob("*.yaml"))


def test_every_option_is_translated_in_every_language(config: dict[str, Any]) -> None:
    """Each option in ``schema`` (and ``options``) has a name and a description in every
    translations/*.yaml, and nothing there names an option that does not exist; the same for
    the ports under ``network`` (docs/add-ons/configuration.md, "Add-on translations")."""
    files = _translation_files()
    assert ROOT / "translations" / "en.yaml" in files
    options = set(config["schema"]) | set(config["options"])
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(data) <= {"configuration", "network"}, path.name
        entries = data.get("configuration") or {}
        assert set(entries) == options, (path.name, options ^ set(entries))
        for key, entry in entries.items():
            for field in ("name", "description"):
                value = entry.get(field)
                assert isinstance(value, str) and value.strip(), f"{path.name}: {key}.{field}"
        assert set(data.get("network") or {}) == set(config["ports"]), path.name


def test_names_agree_everywhere(config: dict[str, Any], translations: dict[str, Any]) -> None:
    """schema keys == translations keys == DOCS.md option sections == the flag table."""
    schema = set(config["schema"])
    translated = set(translations["configuration"])
    docs = RE_DOCS_OPTION.findall((ROOT / "DOCS.md").read_text(encoding="utf-8"))
    table = [row.option for row in OPTION_FLAGS]
    assert len(docs) == len(set(docs)), "an option documented twice"
    assert len(table) == len(set(table)), "an option mapped twice"
    assert translated == schema
    assert set(docs) == schema
    assert set(table) == schema
    for key, entry in translations["configuration"].items():
        assert entry.get("name") and entry.get("description"), key


def test_docs_say_the_gpu_story() -> None:
    docs = (ROOT / "DOCS.md").read_text(encoding="utf-8")
    assert "Home Assistant OS gives add-ons no NVIDIA GPU" in docs
    assert "--gpus all" in docs and "zeroconf" in docs


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_icon_and_logo() -> None:
    """docs/add-ons/presentation.md: icon.png square, 128x128 recommended; logo.png about
    250x100. Both are drawn by script/make_addon_images.py."""
    assert _png_size(ROOT / "icon.png") == (128, 128)
    width, height = _png_size(ROOT / "logo.png")
    assert 200 <= width <= 300 and 80 <= height <= 120 and width > height


def test_repository_yaml() -> None:
    repository = _load("repository.yaml")
    assert isinstance(repository.get("name"), str) and repository["name"].strip()
    for key in ("url", "maintainer"):
        assert key not in repository or isinstance(repository[key], str)


def test_install_docs_name_the_repository_address() -> None:
    """DOCS.md's installation step and repository.yaml agree on the repository's address.

    With a canonical URL in repository.yaml, DOCS.md gives that URL; without one (the case
    today), DOCS.md says exactly what to paste instead of pointing at an address it never
    gives, and no made-up address stands in for it."""
    docs = (ROOT / "DOCS.md").read_text(encoding="utf-8")
    install = docs.split("## Installation", 1)[1].split("\n## ", 1)[0]
    assert "the URL of this Git repository" not in install
    url = _load("repository.yaml").get("url")
    if url:
        assert url in install
    else:
        assert "you cloned or forked this repository from" in install
        assert "git clone" in install and "Local add-ons" in install


def test_no_second_addon_manifest() -> None:
    """The Supervisor reads every ``config.{json,yaml,yml}`` outside dot folders and rootfs/
    as an add-on (store/data.py); another one in the repository would be a broken add-on."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "rootfs"]
        for name in files:
            if name in ("config.json", "config.yaml", "config.yml"):
                found.append(Path(folder, name).relative_to(ROOT))
    assert found == [Path("config.yaml")]
