"""PortAudio (through ``sounddevice``): finding devices and the formats they accept.

Everything here blocks (PortAudio opens, probes and closes devices synchronously, and an
unplugged USB device can make that hang): callers run it in a thread, never on the loop.

PortAudio lists the devices once, when it starts: a USB device plugged back in (a new ALSA
card, perhaps with a new number) is not in that list. A device that failed is marked
:func:`lost`, and its next :func:`opening` restarts PortAudio first so that it lists the
devices again, but only while no stream is open: ``Pa_Terminate`` closes every stream in the
process (the speaker's too). Otherwise it tries again at the next opening.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

_LOGGER = logging.getLogger(__name__)

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


_lock = threading.Lock()
"""Serialises the count of streams, the lost devices, and restarting PortAudio."""
_streams = 0
"""Streams being opened, open or being closed: PortAudio is restarted only when none is."""
_lost: set[tuple[str, str | None]] = set()
"""(kind, device) that failed since PortAudio last listed the devices."""
_relist_wanted = False
"""A lost device could not be looked for because other streams were open: the microphone
(open nearly always) makes way for a new list when it can (:func:`relist_wanted`)."""


@contextlib.contextmanager
def opening(device: str | None, kind: str) -> Iterator[ModuleType]:
    """Open one stream of ``device`` inside: yields ``sounddevice``, after listing the devices
    again when this one was lost. The stream counts as open until :func:`close`; an error
    inside (the open failed) marks the device lost and the stream not open."""
    global _streams
    sd = load()
    with _lock:
        if (kind, device) in _lost:
            _relist(sd, device, kind)
        _streams += 1
    try:
        yield sd
    except BaseException:
        with _lock:
            _streams -= 1
            _lost.add((kind, device))
        raise
    with _lock:
        _lost.discard((kind, device))


def start(stream: Any) -> None:
    """Start a stream just opened; close it if it does not start (it holds the device)."""
    try:
        stream.start()
    except BaseException:
        stream.close()
        raise


def close(stream: Any, drain: bool = False) -> None:
    """Stop ``stream`` (drain: play out what is buffered, else drop it) and release the device.

    A close that never returns (PortAudio waiting for an unplugged device) leaves the stream
    counted as open: PortAudio is not restarted under it."""
    global _streams
    try:
        try:
            stream.stop() if drain else stream.abort()
        finally:
            stream.close()
    finally:
        with _lock:
            _streams -= 1


def lost(device: str | None, kind: str) -> None:
    """``device`` stopped (unplugged, stalled, failed): list the devices before reopening it."""
    with _lock:
        _lost.add((kind, device))


def relist_wanted() -> bool:
    """Is a lost device waiting for PortAudio to list the devices again, with one stream
    open (the microphone's)? The microphone's supervisor (mic_supervisor.MicSupervisor) then
    reopens it: a USB speaker plugged back in as a new card is otherwise never found while
    the microphone stays open."""
    return _relist_wanted and _streams <= 1


def _relist(sd: Any, device: str | None, kind: str) -> None:
    """Restart PortAudio so that it lists the devices again (called with the lock held)."""
    global _relist_wanted
    what = f"{_word(kind)} {describe(device)}"
    if _streams:
        _LOGGER.debug("Not listing sound devices again for %s: %d stream(s) open", what, _streams)
        _relist_wanted = True
        return
    before = _name(sd, device, kind)
    try:
        for _ in range(sd._initialized):  # noqa: SLF001 - sounddevice's own start and stop
            sd._terminate()  # noqa: SLF001
        sd._initialize()  # noqa: SLF001
    except Exception as err:  # noqa: BLE001 - the open that follows fails and is retried
        _LOGGER.debug("Restarting PortAudio for %s failed: %r", what, err)
        return
    _lost.clear()
    _relist_wanted = False
    after = _name(sd, device, kind)
    if after is not None and after != before:
        _LOGGER.info("Sound devices listed again: found %s (%s)", what, after)
    else:
        _LOGGER.debug("Sound devices listed again for %s: %s", what, after or "not there")


def _name(sd: Any, device: str | None, kind: str) -> str | None:
    try:
        return str(sd.query_devices(device_id(device), kind)["name"])
    except Exception:  # noqa: BLE001 - not there (ValueError) or PortAudio is down
        return None


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
