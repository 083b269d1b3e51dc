"""The options → flags table: each option's flags, the fixed flags, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from addon.options import (
    OPTION_FLAGS,
    AddonContext,
    OptionsError,
    build_server_args,
    load_options,
    redact,
    server_env,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text())["options"]
FIXED = [
    "--uri",
    "tcp://0.0.0.0:10900",
    "--no-zeroconf",
    "--http-uri",
    "http://0.0.0.0:10901",
    "--http-trusted-proxy",
    "172.30.32.2",
]


def _args(options: dict[str, Any], config_dir: Path, token: str | None = "tok") -> list[str]:
    ctx = AddonContext(config_dir=config_dir, supervisor_token=token)
    return build_server_args(options, ctx)


def test_defaults_give_the_plain_addon_command_line(tmp_path: Path) -> None:
    """What a fresh install runs: HA as the home, English, server defaults elsewhere."""
    assert _args(DEFAULTS, tmp_path) == [
        *FIXED,
        "--language",
        "en",
        "--beam-size",
        "0",
        "--cpu-threads",
        "0",
        "--ha-url",
        "http://supervisor/core",
        "--reply-mode",
        "handled",
        "--llm-model",
        "llama3.2",
    ]


# (changed options, flags that must appear as one contiguous run, flags that must not appear)
CASES: list[tuple[dict[str, Any], list[str], list[str]]] = [
    ({"asr_model": "small-int8"}, ["--asr-model", "small-int8"], []),
    (
        {"asr_model": "Systran/faster-whisper-small"},
        ["--asr-model", "Systran/faster-whisper-small"],
        [],
    ),
    ({"asr_model": "  "}, [], ["--asr-model"]),
    ({"language": "de"}, ["--language", "de"], []),
    ({"language": "auto"}, [], ["--language"]),
    ({"beam_size": 5}, ["--beam-size", "5"], []),
    ({"cpu_threads": 4}, ["--cpu-threads", "4"], []),
    ({"initial_prompt": "Kitchen, hall"}, ["--initial-prompt", "Kitchen, hall"], []),
    ({"allow_download": True}, ["--allow-download", "--download-dir", "{config}/models"], []),
    ({"allow_download": False}, [], ["--allow-download", "--download-dir"]),
    ({"voice": "de_DE-thorsten-medium"}, ["--voice", "de_DE-thorsten-medium"], []),
    ({"speaker": "2"}, ["--speaker", "2"], []),
    ({"home_source": "demo"}, [], ["--ha-url", "--home-file"]),
    ({"reply_mode": "intent"}, ["--reply-mode", "intent"], []),
    ({"ollama_url": "http://10.0.0.5:11434"}, ["--ollama-url", "http://10.0.0.5:11434"], []),
    ({"llm_url": "http://10.0.0.5:8000/v1"}, ["--llm-url", "http://10.0.0.5:8000/v1"], []),
    ({"llm_url": "", "llm_api_key": ""}, [], ["--llm-url", "--ollama-url"]),
    (
        {"llm_url": "http://10.0.0.5:8000/v1", "llm_api_key": "sk-local"},
        ["--llm-url", "http://10.0.0.5:8000/v1"],
        ["sk-local"],
    ),
    ({"llm_model": "qwen2.5:7b"}, ["--llm-model", "qwen2.5:7b"], []),
    ({"llm_prompt": "Be brief."}, ["--llm-prompt", "Be brief."], []),
    ({"allow": ""}, [], ["--allow"]),  # empty: the server's default ranges
    (
        {"allow": "192.168.1.0/24, 2001:db8:1::/64"},
        [
            *("--allow 127.0.0.0/8 --allow ::1/128 --allow 172.30.32.0/23".split()),
            *("--allow fd0c:ac1e:2100::/48 --allow 192.168.1.0/24".split()),
            *("--allow 2001:db8:1::/64".split()),
        ],
        [],
    ),
    ({"debug_logging": True}, ["--debug"], []),
    ({"debug_logging": False}, [], ["--debug"]),
]


def _contains_run(args: list[str], run: list[str]) -> bool:
    return any(args[i : i + len(run)] == run for i in range(len(args) - len(run) + 1))


@pytest.mark.parametrize(("changed", "present", "absent"), CASES)
def test_option_maps_to_flags(
    tmp_path: Path, changed: dict[str, Any], present: list[str], absent: list[str]
) -> None:
    args = _args({**DEFAULTS, **changed}, tmp_path)
    expected = [part.replace("{config}", str(tmp_path)) for part in present]
    assert _contains_run(args, expected), args
    for flag in absent:
        assert flag not in args
    assert args[: len(FIXED)] == FIXED


def test_every_option_has_a_case() -> None:
    """The table-driven cases above cover every row of the one table."""
    covered = {key for changed, _, _ in CASES for key in changed} | {"home_file"}
    assert covered == {row.option for row in OPTION_FLAGS}


def test_file_in_config_folder_becomes_a_path(tmp_path: Path) -> None:
    """A model folder or voice the user copied into /config is passed as an absolute path."""
    (tmp_path / "models" / "whisper-small").mkdir(parents=True)
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "mine.onnx").write_bytes(b"")
    args = _args(
        {**DEFAULTS, "asr_model": "models/whisper-small", "voice": "voices/mine.onnx"}, tmp_path
    )
    assert _contains_run(args, ["--asr-model", str(tmp_path / "models" / "whisper-small")])
    assert _contains_run(args, ["--voice", str(tmp_path / "voices" / "mine.onnx")])
    assert _contains_run(args, ["--voices-dir", str(tmp_path / "voices")])


def test_no_voices_dir_flag_without_the_folder(tmp_path: Path) -> None:
    assert "--voices-dir" not in _args(DEFAULTS, tmp_path)


def test_home_file(tmp_path: Path) -> None:
    (tmp_path / "home.yaml").write_text("areas: []\n")
    args = _args({**DEFAULTS, "home_source": "file"}, tmp_path)
    assert _contains_run(args, ["--home-file", str(tmp_path / "home.yaml")])
    assert "--ha-url" not in args


def test_missing_home_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="home file .*not found"):
        _args({**DEFAULTS, "home_source": "file", "home_file": "nope.yaml"}, tmp_path)


def test_unknown_home_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="home_source"):
        _args({**DEFAULTS, "home_source": "cloud"}, tmp_path)


def test_unknown_option_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = _args({**DEFAULTS, "old_option": 1}, tmp_path)
    assert "old_option" in caplog.text
    assert args == _args(DEFAULTS, tmp_path)


def test_token_goes_to_the_environment_not_the_command_line(tmp_path: Path) -> None:
    ctx = AddonContext(config_dir=tmp_path, supervisor_token="s3cret")
    args = build_server_args(DEFAULTS, ctx)
    env = server_env(DEFAULTS, ctx, {"PATH": "/bin"})
    assert "s3cret" not in " ".join(args)
    assert env == {"PATH": "/bin", "HA_TOKEN": "s3cret"}
    demo = {**DEFAULTS, "home_source": "demo"}
    assert "HA_TOKEN" not in server_env(demo, ctx, {})


def test_llm_api_key_goes_to_the_environment_not_the_command_line(tmp_path: Path) -> None:
    options = {**DEFAULTS, "llm_url": "http://10.0.0.5:8000/v1", "llm_api_key": " sk-local "}
    ctx = AddonContext(config_dir=tmp_path, supervisor_token="s3cret")
    assert "sk-local" not in " ".join(build_server_args(options, ctx))
    assert server_env(options, ctx, {})["WYOMING_RTX_LLM_API_KEY"] == "sk-local"
    assert "WYOMING_RTX_LLM_API_KEY" not in server_env(DEFAULTS, ctx, {})


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        (
            {"ollama_url": "http://10.0.0.5:11434", "llm_url": "http://10.0.0.5:8000/v1"},
            "either ollama_url or llm_url",
        ),
        ({"llm_api_key": "sk-local"}, "llm_url is empty"),
    ],
)
def test_llm_options_that_cannot_work_are_refused(
    tmp_path: Path, changed: dict[str, Any], message: str
) -> None:
    """The server would refuse them with a usage error; the add-on says it in a sentence."""
    with pytest.raises(OptionsError, match=message):
        _args({**DEFAULTS, **changed}, tmp_path)


def test_home_assistant_without_token_is_refused(tmp_path: Path) -> None:
    ctx = AddonContext(config_dir=tmp_path, supervisor_token=None)
    with pytest.raises(OptionsError, match="SUPERVISOR_TOKEN"):
        server_env(DEFAULTS, ctx, {})


def test_redact() -> None:
    assert redact(["--ha-token", "abc", "--debug", "--http-token", "x"]) == [
        "--ha-token",
        "***",
        "--debug",
        "--http-token",
        "***",
    ]


def test_load_options(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(DEFAULTS))
    assert load_options(path) == DEFAULTS
    with pytest.raises(OptionsError, match="not found"):
        load_options(tmp_path / "missing.json")
    path.write_text("{broken")
    with pytest.raises(OptionsError, match="cannot read"):
        load_options(path)
    path.write_text("[1, 2]")
    with pytest.raises(OptionsError, match="JSON object"):
        load_options(path)


@pytest.mark.parametrize("bad", ["kitchen", "192.168.1.0/33", "192.168.1.0/24 ,nope"])
def test_a_bad_allow_range_is_one_clear_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(OptionsError, match="allow: .* is not an address range"):
        _args({**DEFAULTS, "allow": bad}, tmp_path)


def test_home_assistant_is_served_whatever_allow_says(tmp_path: Path) -> None:
    """Home Assistant Core and the watchdog connect over the Supervisor's hassio network
    (172.30.32.0/23, fd0c:ac1e:2100::/48); the health check over loopback. Both the default
    ranges and a narrow ``allow`` must serve them."""
    from wyoming_rtx.lan import allowed, parse_networks
    from wyoming_rtx.settings import DEFAULT_ALLOW

    args = _args({**DEFAULTS, "allow": "192.168.1.10/32"}, tmp_path)
    narrow = parse_networks(args[i + 1] for i, a in enumerate(args) if a == "--allow")
    peers = [("172.30.32.1", 1), ("172.30.33.5", 1), ("fd0c:ac1e:2100::1", 1, 0, 0)]
    peers += [("127.0.0.1", 1), ("::1", 1, 0, 0)]
    for networks in (parse_networks(DEFAULT_ALLOW), narrow):
        assert all(allowed(peer, networks) for peer in peers)
    assert allowed(("192.168.1.10", 1), narrow) and not allowed(("192.168.1.11", 1), narrow)
