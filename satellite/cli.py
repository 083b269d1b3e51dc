"""The satellite's command line: the parser (its option groups are in cli_options.py), and
the parsed options turned into settings.

Every value that can be checked without a device or a model is checked here, a usage error
(exit 2, the option named) before the microphone opens.
"""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from wyoming_rtx.cli_help import DefaultsHelpFormatter
from wyoming_rtx.lan import PRIVATE_NETWORKS, parse_networks

from .cli_options import (
    add_mic_options,
    add_mode_options,
    add_snd_options,
    add_vad_options,
    add_wake_options,
)
from .settings import (
    SOUNDS_DIR,
    HaSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    VadSettings,
    WakeSettings,
)

_DESCRIPTION = "``python -m satellite``: parse the command line, build settings, run one mode."
"""The line ``--help`` opens with."""


def _sound(value: str | None, default: Path, no_sounds: bool) -> Path | None:
    if no_sounds or (value is not None and value.lower() == "none"):
        return None
    return Path(value) if value else default


def build_parser() -> argparse.ArgumentParser:
    """Every option of the satellite; defaults come from the settings dataclasses."""
    parser = argparse.ArgumentParser(
        prog="wyoming-rtx-satellite",
        description=_DESCRIPTION,
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "--name",
        default=socket.gethostname(),
        help="satellite name: the server keeps each name's conversation and status apart "
        "(default: this host's name)",
    )
    parser.add_argument(
        "--area", help="area the satellite is in: scopes commands (default: no area)"
    )
    add_mode_options(parser.add_argument_group("mode (direct unless --ha-uri)"))
    add_mic_options(parser.add_argument_group("microphone (one of)"))
    add_snd_options(parser.add_argument_group("sound output (at most one)"))
    add_wake_options(parser.add_argument_group("wake word"))
    add_vad_options(parser.add_argument_group("end of speech"))
    parser.add_argument(
        "--response-timeout-seconds",
        type=float,
        default=SatelliteSettings().response_timeout_seconds,
        help="after a turn, seconds to wait for the answer before listening again",
    )
    parser.add_argument(
        "--no-barge-in",
        action="store_true",
        help="do not listen for the wake word while an answer or a ring plays (by default "
        "the wake word stops it and starts a new turn)",
    )
    parser.add_argument(
        "--list-devices",
        action="store_true",
        help="print the sound devices (names and numbers for --mic-device/--snd-device), exit",
    )
    parser.add_argument("--debug", action="store_true", help="log DEBUG messages")
    parser.add_argument(
        "--log-format",
        default="%(asctime)s %(levelname)s %(name)s: %(message)s",
        help="Python logging format of each log line",
    )
    return parser


_NUMBER_RULES: tuple[tuple[str, str, Callable[[float], bool], str], ...] = (
    ("mic_rate", "--mic-rate", lambda v: v > 0, "must be more than 0"),
    ("mic_width", "--mic-width", lambda v: 1 <= v <= 4, "must be 1 to 4 bytes"),
    ("mic_channels", "--mic-channels", lambda v: v >= 1, "must be 1 or more"),
    ("snd_rate", "--snd-rate", lambda v: v > 0, "must be more than 0"),
    ("snd_width", "--snd-width", lambda v: 1 <= v <= 4, "must be 1 to 4 bytes"),
    ("snd_channels", "--snd-channels", lambda v: v >= 1, "must be 1 or more"),
    ("wake_threshold", "--wake-threshold", lambda v: 0 < v <= 1, "must be more than 0, at most 1"),
    ("wake_trigger_level", "--wake-trigger-level", lambda v: v >= 1, "must be 1 or more"),
    ("wake_refractory_seconds", "--wake-refractory-seconds", lambda v: v >= 0, "must be 0 or more"),
    ("vad_threshold", "--vad-threshold", lambda v: 0 < v < 1, "must be between 0 and 1"),
    ("vad_silence_ms", "--vad-silence-ms", lambda v: v > 0, "must be more than 0"),
    ("vad_no_speech_seconds", "--vad-no-speech-seconds", lambda v: v > 0, "must be more than 0"),
    ("vad_max_seconds", "--vad-max-seconds", lambda v: v > 0, "must be more than 0"),
    ("vad_preroll_ms", "--vad-preroll-ms", lambda v: v >= 0, "must be 0 or more"),
    (
        "response_timeout_seconds",
        "--response-timeout-seconds",
        lambda v: v > 0,
        "must be more than 0",
    ),
)
"""(attribute, option, rule, what the rule says): found before the microphone opens."""


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every value that can be checked without a device or a model, as one usage error."""
    for attr, option, rule, text in _NUMBER_RULES:
        value = getattr(args, attr)
        if value is not None and not rule(value):
            parser.error(f"{option} {value:g}: it {text}")
    for option, uri in (("--server-uri", args.server_uri), ("--ha-uri", args.ha_uri)):
        if uri and not _is_tcp_uri(uri):
            parser.error(
                f"{option} {uri}: it must look like tcp://HOST:PORT, e.g. {_EXAMPLES[option]}"
            )
    if args.mic_file and args.mic_file != "-" and not Path(args.mic_file).is_file():
        parser.error(f"--mic-file {args.mic_file}: no such file")
    for option, value in (
        ("--awake-wav", args.awake_wav),
        ("--done-wav", args.done_wav),
        ("--timer-finished-wav", args.timer_finished_wav),
    ):
        if value and value.lower() != "none" and not Path(value).is_file():
            parser.error(f"{option} {value}: no such file (or 'none' for silence)")
    model = args.turn_model.strip()
    if model.lower() not in ("auto", "none") and not Path(model).expanduser().is_file():
        parser.error(
            f"--turn-model {model}: no such file ('auto' for the installed Smart Turn model, "
            "'none' for the silence rule alone)"
        )
    try:
        logging.Formatter(args.log_format, validate=True)
    except ValueError:
        parser.error(
            f"--log-format {args.log_format}: not a Python logging format such as "
            "'%(levelname)s %(name)s: %(message)s'"
        )


_EXAMPLES = {"--server-uri": "tcp://192.168.1.20:10900", "--ha-uri": "tcp://0.0.0.0:10700"}


def _is_tcp_uri(uri: str) -> bool:
    """tcp://HOST:PORT with a numeric port from 0 to 65535."""
    parsed = urlparse(uri)
    try:
        port = parsed.port
    except ValueError:
        return False
    return parsed.scheme == "tcp" and bool(parsed.hostname) and port is not None


def settings_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> SatelliteSettings:
    """Map flags to settings once; a bad value or combination is a usage error (exit 2)."""
    _check_args(parser, args)
    if sum(x is not None for x in (args.mic_command, args.mic_device, args.mic_file)) > 1:
        parser.error("choose one of --mic-command, --mic-device, --mic-file")
    if sum(x is not None for x in (args.snd_command, args.snd_device, args.snd_file)) > 1:
        parser.error("choose one of --snd-command, --snd-device, --snd-file")
    if args.server_uri and args.ha_uri:
        parser.error("--server-uri (direct mode) and --ha-uri (HA mode) exclude each other")
    mic_device = args.mic_device
    if args.mic_command is None and args.mic_file is None and mic_device is None:
        mic_device = "default"
    snd_device = args.snd_device
    if args.snd_command is None and args.snd_file is None and snd_device is None:
        snd_device = "default"
    return SatelliteSettings(
        name=args.name,
        area=args.area,
        mic=MicSettings(
            command=args.mic_command,
            device=mic_device,
            file=Path(args.mic_file) if args.mic_file else None,
            rate=args.mic_rate,
            width=args.mic_width,
            channels=args.mic_channels,
            realtime=args.mic_realtime,
        ),
        snd=SndSettings(
            command=args.snd_command,
            device=snd_device,
            file=Path(args.snd_file) if args.snd_file else None,
            rate=args.snd_rate,
            width=args.snd_width,
            channels=args.snd_channels,
            awake_wav=_sound(args.awake_wav, SOUNDS_DIR / "awake.wav", args.no_sounds),
            done_wav=_sound(args.done_wav, SOUNDS_DIR / "done.wav", args.no_sounds),
            timer_finished_wav=_sound(
                args.timer_finished_wav, SOUNDS_DIR / "timer_finished.wav", args.no_sounds
            ),
        ),
        wake=WakeSettings(
            engine=args.wake_engine,
            names=tuple(args.wake_words or ["ok_nabu"]),
            threshold=args.wake_threshold,
            trigger_level=args.wake_trigger_level,
            refractory_seconds=args.wake_refractory_seconds,
        ),
        vad=VadSettings(
            threshold=args.vad_threshold,
            silence_ms=args.vad_silence_ms,
            no_speech_seconds=args.vad_no_speech_seconds,
            max_seconds=args.vad_max_seconds,
            preroll_ms=args.vad_preroll_ms,
            turn_model=args.turn_model,
        ),
        response_timeout_seconds=args.response_timeout_seconds,
        barge_in=not args.no_barge_in,
    )


def ha_settings_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> HaSettings | None:
    """Home Assistant mode's settings (None in direct mode); a bad range is one clear line."""
    if args.ha_allow and not args.ha_uri:
        parser.error("--ha-allow applies to Home Assistant mode: add --ha-uri")
    if not args.ha_uri:
        return None
    allow = tuple(args.ha_allow) if args.ha_allow else PRIVATE_NETWORKS
    for cidr in allow:
        try:
            parse_networks([cidr])
        except ValueError:
            parser.error(f"--ha-allow {cidr!r} is not an address range such as 192.168.1.0/24")
    return HaSettings(
        uri=args.ha_uri,
        zeroconf=not args.no_zeroconf,
        zeroconf_name=args.zeroconf_name,
        zeroconf_host=args.zeroconf_host,
        allow=allow,
    )
