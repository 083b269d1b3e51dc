"""The satellite's option groups, one function per group of ``--help``: each adds its flags,
their defaults (taken from the settings dataclasses) and their help to the parser that
``cli.build_parser`` makes.

Kept apart from cli.py so that the long list of flags and help texts is one module and the
checks and the mapping of parsed options onto settings are another.
"""

from __future__ import annotations

import argparse

from wyoming_rtx.lan import PRIVATE_NETWORKS

from .settings import (
    MIC_CHANNELS,
    MIC_RATE,
    MIC_WIDTH,
    SndSettings,
    VadSettings,
    WakeSettings,
)


def add_mode_options(mode: argparse._ArgumentGroup) -> None:
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


def add_mic_options(mic: argparse._ArgumentGroup) -> None:
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


def add_snd_options(snd: argparse._ArgumentGroup) -> None:
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


def add_wake_options(wake: argparse._ArgumentGroup) -> None:
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


def add_vad_options(vad: argparse._ArgumentGroup) -> None:
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
    vad.add_argument(
        "--turn-model",
        default=defaults.turn_model,
        metavar="auto|none|PATH",
        help="Smart Turn v3, which ends a turn whose sound is surely complete 0.2 s into its "
        "pause and otherwise waits 1 s of silence for more; used in Home Assistant mode "
        "and whenever the server does not judge the turn. auto: the model the pipecat-ai wheel "
        "carries (pip install --no-deps pipecat-ai==1.14.0), or the silence rule alone when it "
        "is not installed; none: the silence rule alone; or a local .onnx file",
    )
