"""PortAudio (through ``sounddevice``): finding devices and the formats they accept.

Everything here blocks (PortAudio opens, probes and closes devices synchronously, and an
unplugged USB device can make that hang): callers run it in a thread, never on the loop.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

COMMON_RATES = (16000, 48000, 44100, 32000, 22050)
"""Rates tried, after the wanted one and the device's own default, when a device is picky."""


def load() -> ModuleType:
    """``sounddevice``, or an error that says what to install (PortAudio is a system library)."""
    try:
        import sounddevice
    except ImportError as err:
        raise RuntimeError(
            "sound devices need sounddevice: pip install 'wyoming-rtx[satellite]'"
        ) from err
    except OSError as err:  # sounddevice raises this when libportaudio.so.2 is missing
        raise RuntimeError(
            f"sound devices need PortAudio ({err}): sudo apt install libportaudio2"
        ) from err
    return sounddevice


def device_id(name: str | None) -> str | int | None:
    """A command-line device name as PortAudio takes it: None is the system default."""
    if name is None or name == "default":
        return None
    return int(name) if name.isdigit() else name


def describe(name: str | None) -> str:
    """How log lines and errors name a device: as the user wrote it."""
    return repr(name or "default")


def pick_format(
    sd: Any, device: str | None, kind: str, rate: int, channels: int
) -> tuple[int, int]:
    """(rate, channels) the device accepts for 16-bit audio, closest to what is wanted.

    USB microphones and HAT sound cards often offer only 44.1 or 48 kHz, and some only
    stereo: the wanted format first, then the device's default rate, then common rates, each
    with the wanted channel count, mono and stereo. Raises an error that names the device.
    """
    dev = device_id(device)
    try:
        info = sd.query_devices(dev, kind)
    except Exception as err:  # noqa: BLE001 - sounddevice raises ValueError or PortAudioError
        raise RuntimeError(f"no sound {_word(kind)} {describe(device)}: {err}") from err
    most = int(info["max_input_channels" if kind == "input" else "max_output_channels"])
    rates = [rate, int(info["default_samplerate"]), *COMMON_RATES]
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    for try_rate in dict.fromkeys(rates):
        for try_channels in dict.fromkeys((channels, 1, 2)):
            if try_channels > most:
                continue
            try:
                check(device=dev, samplerate=try_rate, channels=try_channels, dtype="int16")
            except Exception:  # noqa: BLE001, S112 - this format is refused: try the next
                continue
            return try_rate, try_channels
    raise RuntimeError(
        f"sound {_word(kind)} {describe(device)} ({info['name']}) accepts none of "
        f"{', '.join(str(r) for r in dict.fromkeys(rates))} Hz, 16-bit"
    )


def _word(kind: str) -> str:
    return "input" if kind == "input" else "output"


def list_devices() -> str:
    """What ``--list-devices`` prints: every device, its channels and default rate."""
    sd = load()
    lines = []
    default_in, default_out = sd.default.device
    for index, info in enumerate(sd.query_devices()):
        marks = ("<" if index == default_in else " ") + (">" if index == default_out else " ")
        lines.append(
            f"{marks} {index:2d} {info['name']}: {info['max_input_channels']} in, "
            f"{info['max_output_channels']} out, {info['default_samplerate']:.0f} Hz"
        )
    if not lines:
        lines.append("no sound devices found (is the user in the 'audio' group?)")
    lines.append("(< default microphone, > default speaker; pass a name or number to --mic-device")
    lines[-1] += " or --snd-device)"
    return "\n".join(lines)
