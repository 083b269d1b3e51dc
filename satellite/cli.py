"""The satellite's command line: its options and their help, and the parsed options turned
into settings.

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

from .settings import (
    MIC_CHANNELS,
    MIC_RATE,
    MIC_WIDTH,
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
    _mode_options(parser.add_argument_group("mode (direct unless --ha-uri)"))
    _mic_options(parser.add_argument_group("microphone (one of)"))
    _snd_options(parser.add_argument_group("sound output (at most one)"))
    _wake_options(parser.add_argument_group("wake word"))
    _vad_options(parser.add_argument_group("end of speech"))
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


def _mode_options(mode: argparse._ArgumentGroup) -> None:
    """Direct (we connect to the server) or Home Assistant (it connects to us)."""
    mode.add_argument(
        "--server-uri",
        help="direct mode: the server, tcp://HOST:PORT (default: found by zeroconf)",
    )
    mode.add_argument(
        "--ha-uri",
        help="Home Assistant mode: listen here, e.g. tcp://0.0.0.0:10700 (default: direct mode)",
    )
    mode.add_argument("--no-zeroconf", action="store_true", help="HA mode: do not announce")
    mode.add_argument("--zeroconf-name", help="HA mode: announced instance name (default: --name)")
    mode.add_argument(
        "--zeroconf-host", help="HA mode: announced address (default: this host's LAN address)"
    )
    mode.add_argument(
        "--ha-allow",
        action="append",
        metavar="CIDR",
        help="HA mode: peers that may connect (repeatable); others get an error event and are "
        f"closed (default: {' '.join(PRIVATE_NETWORKS)}); "
        "e.g. --ha-allow 192.168.1.10/32 for Home Assistant's address only",
    )


def _mic_options(mic: argparse._ArgumentGroup) -> None:
    """One microphone source and the raw format of a command or stdin."""
    mic.add_argument(
        "--mic-command",
        help="command printing raw audio, e.g. 'arecord -r 16000 -c 1 -f S16_LE -t raw' "
        "(default: --mic-device default); restarted when it exits or prints nothing for 1.5 s",
    )
    mic.add_argument(
        "--mic-device",
        help="sound device name or number from --list-devices (default: 'default', the "
        "system's microphone, unless --mic-command or --mic-file is given); opened at "
        "--mic-rate/--mic-channels when it accepts them, else at what it offers, and "
        "converted to 16 kHz mono; reopened when it stops delivering (unplugged) for 1.5 s",
    )
    mic.add_argument(
        "--mic-file",
        help="WAV file as microphone; '-' reads raw 16 kHz s16le from stdin (default: none)",
    )
    mic.add_argument(
        "--mic-rate",
        type=int,
        default=MIC_RATE,
        help="sample rate of the command's/stdin's audio, and the rate asked of a sound device",
    )
    mic.add_argument(
        "--mic-width", type=int, default=MIC_WIDTH, help="bytes per sample of the raw audio"
    )
    mic.add_argument(
        "--mic-channels",
        type=int,
        default=MIC_CHANNELS,
        help="channels of the raw audio, and the channels asked of a sound device",
    )
    mic.add_argument("--mic-realtime", action="store_true", help="pace --mic-file at real time")


def _snd_options(snd: argparse._ArgumentGroup) -> None:
    """At most one sound output, its format, and the feedback sounds."""
    defaults = SndSettings()
    snd.add_argument(
        "--snd-command",
        help="command reading raw audio, e.g. 'aplay -r 22050 -c 1 -f S16_LE -t raw' "
        "(default: --snd-device default)",
    )
    snd.add_argument(
        "--snd-device",
        help="sound device name or number from --list-devices, or 'none' for no sound "
        "(default: 'default', the system's speaker, unless --snd-command or --snd-file is "
        "given); a device that refuses --snd-rate/--snd-channels gets what it accepts",
    )
    snd.add_argument("--snd-file", help="append played audio here, .wav or raw (default: none)")
    snd.add_argument(
        "--snd-rate", type=int, default=defaults.rate, help="output sample rate (of a command)"
    )
    snd.add_argument(
        "--snd-width", type=int, default=defaults.width, help="output bytes per sample"
    )
    snd.add_argument("--snd-channels", type=int, default=defaults.channels, help="output channels")
    snd.add_argument(
        "--awake-wav", help="sound on wake; 'none' for silence (default: the bundled awake.wav)"
    )
    snd.add_argument(
        "--done-wav",
        help="sound at the end of listening; 'none' for silence (default: the bundled done.wav)",
    )
    snd.add_argument(
        "--timer-finished-wav",
        help="sound when a timer finishes; 'none' for silence "
        "(default: the bundled timer_finished.wav)",
    )
    snd.add_argument("--no-sounds", action="store_true", help="no awake/done/timer sounds")


def _wake_options(wake: argparse._ArgumentGroup) -> None:
    """Wake word engine, models and debounce."""
    defaults = WakeSettings()
    wake.add_argument(
        "--wake-engine",
        choices=["openwakeword", "microwakeword"],
        default=defaults.engine,
        help="wake word detector",
    )
    wake.add_argument(
        "--wake-word",
        action="append",
        dest="wake_words",
        help="bundled name (ok_nabu, hey_jarvis, alexa, hey_mycroft, hey_rhasspy) "
        "or model path; repeatable (default: ok_nabu)",
    )
    wake.add_argument(
        "--wake-threshold",
        type=float,
        help="score from 0 to 1 a frame must reach (default: the engine's own, 0.5 or the "
        "model's cutoff)",
    )
    wake.add_argument(
        "--wake-trigger-level",
        type=int,
        default=defaults.trigger_level,
        help="consecutive frames over the threshold",
    )
    wake.add_argument(
        "--wake-refractory-seconds",
        type=float,
        default=defaults.refractory_seconds,
        help="after a detection, seconds before the wake word can fire again",
    )


def _vad_options(vad: argparse._ArgumentGroup) -> None:
    """End of speech: the shared satellite preset, in the command line's units."""
    defaults = VadSettings()
    vad.add_argument(
        "--vad-threshold",
        type=float,
        default=defaults.threshold,
        help="speech probability from 0 to 1 above which audio is speech",
    )
    vad.add_argument(
        "--vad-silence-ms",
        type=int,
        default=defaults.silence_ms,
        help="silence after speech that ends the turn (in direct mode the server usually "
        "ends it sooner, when the command is complete, and this becomes a 2.5 s safety net)",
    )
    vad.add_argument(
        "--vad-no-speech-seconds",
        type=float,
        default=defaults.no_speech_seconds,
        help="a turn in which speech never starts ends after this long",
    )
    vad.add_argument(
        "--vad-max-seconds",
        type=float,
        default=defaults.max_seconds,
        help="longest turn",
    )
    vad.add_argument(
        "--vad-preroll-ms",
        type=int,
        default=defaults.preroll_ms,
        help="audio from just before the wake detection sent with the turn",
    )


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
