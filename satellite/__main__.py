"""``python -m satellite``: parse the command line, build settings, run one mode."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from wyoming_rtx.lan import PRIVATE_NETWORKS, parse_networks

from .app import HaApp, run_direct
from .settings import (
    SOUNDS_DIR,
    DirectSettings,
    HaSettings,
    MicSettings,
    SatelliteSettings,
    SndSettings,
    VadSettings,
    WakeSettings,
)

_LOGGER = logging.getLogger(__name__)


def _sound(value: str | None, default: Path, no_sounds: bool) -> Path | None:
    if no_sounds or (value is not None and value.lower() == "none"):
        return None
    return Path(value) if value else default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wyoming-rtx-satellite", description=__doc__)
    parser.add_argument("--name", default="wyoming-rtx satellite", help="satellite name")
    parser.add_argument("--area", help="area the satellite is in (scopes commands)")
    mode = parser.add_argument_group("mode (direct unless --ha-uri)")
    mode.add_argument("--server-uri", help="direct mode: tcp://host:port (default: zeroconf)")
    mode.add_argument("--ha-uri", help="Home Assistant mode: listen here, e.g. tcp://0.0.0.0:10700")
    mode.add_argument("--no-zeroconf", action="store_true", help="HA mode: do not announce")
    mode.add_argument("--zeroconf-name", help="HA mode: announced instance name")
    mode.add_argument("--zeroconf-host", help="HA mode: announced address (default: LAN IP)")
    mode.add_argument(
        "--ha-allow",
        action="append",
        metavar="CIDR",
        help="HA mode: peers that may connect (repeatable); others get an error event and are "
        f"closed (default: {' '.join(PRIVATE_NETWORKS)}); "
        "e.g. --ha-allow 192.168.1.10/32 for Home Assistant's address only",
    )
    mic = parser.add_argument_group("microphone (one of)")
    mic.add_argument("--mic-command", help="e.g. 'arecord -r 16000 -c 1 -f S16_LE -t raw'")
    mic.add_argument("--mic-device", help="sounddevice input name/index, or 'default'")
    mic.add_argument("--mic-file", help="WAV file as microphone ('-': raw 16 kHz s16le stdin)")
    mic.add_argument("--mic-rate", type=int, default=16000, help="raw format of command/stdin")
    mic.add_argument("--mic-width", type=int, default=2)
    mic.add_argument("--mic-channels", type=int, default=1)
    mic.add_argument("--mic-realtime", action="store_true", help="pace --mic-file at real time")
    snd = parser.add_argument_group("sound output (at most one)")
    snd.add_argument("--snd-command", help="e.g. 'aplay -r 22050 -c 1 -f S16_LE -t raw'")
    snd.add_argument("--snd-device", help="sounddevice output name/index, or 'default'")
    snd.add_argument("--snd-file", help="append played audio here (.wav or raw)")
    snd.add_argument("--snd-rate", type=int, default=22050)
    snd.add_argument("--snd-width", type=int, default=2)
    snd.add_argument("--snd-channels", type=int, default=1)
    snd.add_argument("--awake-wav", help="sound on wake ('none' to disable)")
    snd.add_argument("--done-wav", help="sound at end of listening ('none' to disable)")
    snd.add_argument("--timer-finished-wav", help="sound when a timer finishes ('none')")
    snd.add_argument("--no-sounds", action="store_true", help="no awake/done/timer sounds")
    wake = parser.add_argument_group("wake word")
    wake.add_argument(
        "--wake-engine", choices=["openwakeword", "microwakeword"], default="openwakeword"
    )
    wake.add_argument(
        "--wake-word",
        action="append",
        dest="wake_words",
        help="bundled name (ok_nabu, hey_jarvis, alexa, hey_mycroft, hey_rhasspy) "
        "or model path; repeatable (default: ok_nabu)",
    )
    wake.add_argument("--wake-threshold", type=float, help="0-1 (default: engine's own)")
    wake.add_argument(
        "--wake-trigger-level", type=int, default=1, help="consecutive frames over the threshold"
    )
    wake.add_argument("--wake-refractory-seconds", type=float, default=2.0)
    vad = parser.add_argument_group("end of speech")
    vad_defaults = VadSettings()
    vad.add_argument("--vad-threshold", type=float, default=vad_defaults.threshold)
    vad.add_argument(
        "--vad-silence-ms",
        type=int,
        default=vad_defaults.silence_ms,
        help=f"silence after speech that ends the turn (default {vad_defaults.silence_ms})",
    )
    vad.add_argument("--vad-no-speech-seconds", type=float, default=vad_defaults.no_speech_seconds)
    vad.add_argument("--vad-max-seconds", type=float, default=vad_defaults.max_seconds)
    vad.add_argument("--vad-preroll-ms", type=int, default=vad_defaults.preroll_ms)
    parser.add_argument("--response-timeout-seconds", type=float, default=30.0)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--log-format", default="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return parser


def settings_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> SatelliteSettings:
    if sum(x is not None for x in (args.mic_command, args.mic_device, args.mic_file)) > 1:
        parser.error("choose one of --mic-command, --mic-device, --mic-file")
    if sum(x is not None for x in (args.snd_command, args.snd_device, args.snd_file)) > 1:
        parser.error("choose one of --snd-command, --snd-device, --snd-file")
    if args.server_uri and args.ha_uri:
        parser.error("--server-uri (direct mode) and --ha-uri (HA mode) exclude each other")
    mic_device = args.mic_device
    if args.mic_command is None and args.mic_file is None and mic_device is None:
        mic_device = "default"
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
            device=args.snd_device,
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


async def _run(
    args: argparse.Namespace, settings: SatelliteSettings, ha: HaSettings | None
) -> None:
    if ha is not None:
        app = HaApp(settings, ha)
        await app.start()
        try:
            await app.run()
        finally:
            await app.stop()
    else:
        await run_direct(settings, DirectSettings(server_uri=args.server_uri))


async def _main(
    args: argparse.Namespace, settings: SatelliteSettings, ha: HaSettings | None
) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await _run(args, settings, ha)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format=args.log_format)
    settings = settings_from_args(parser, args)
    ha = ha_settings_from_args(parser, args)
    _LOGGER.debug("%s %s", settings, ha)
    try:
        asyncio.run(_main(args, settings, ha))
    except FileNotFoundError as err:  # a missing model or sound: one clear line, no traceback
        parser.exit(2, f"error: {err}\n")


def run() -> None:
    """Console script entry point (``wyoming-rtx-satellite``)."""
    main()


if __name__ == "__main__":
    run()
