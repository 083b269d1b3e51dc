"""Frozen settings for the satellite, built once from the command line.

Everything below the command line (``cli``) receives these objects, never an
``argparse.Namespace``, so tests build a satellite with plain constructors.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from wyoming_rtx.audio.endpoint import SATELLITE_RULES, EndOfTurnRules
from wyoming_rtx.lan import PRIVATE_NETWORKS

SOUNDS_DIR = Path(__file__).parent / "sounds"

# The microphone side of the satellite always works in this format; sources convert to it.
MIC_RATE = 16000
MIC_WIDTH = 2
MIC_CHANNELS = 1


@dataclass(frozen=True)
class MicSettings:
    """Where the microphone audio comes from (exactly one source)."""

    command: str | None = None
    """Command printing raw PCM on stdout (``arecord -r 16000 -c 1 -f S16_LE -t raw``)."""
    device: str | None = None
    """sounddevice input device name or index (``default`` for the system default)."""
    file: Path | None = None
    """WAV file to use as the microphone (``-`` reads raw 16 kHz s16le mono from stdin)."""
    rate: int = MIC_RATE
    width: int = MIC_WIDTH
    channels: int = MIC_CHANNELS
    """Format of the command's/stdin's raw output; converted to 16 kHz 16-bit mono."""
    realtime: bool = False
    """Pace a file source at real time (demos); tests and benches read it as fast as possible."""
    tail_silence_seconds: float = 3.0
    """Silence appended after a file source ends, so the last turn can reach its end."""
    restart_seconds: float = 1.0
    """First wait before restarting a dead mic command; doubles up to ``restart_max_seconds``."""
    restart_max_seconds: float = 10.0
    """A device that comes back is reopened within this long."""
    stall_seconds: float = 1.5
    """A sound device that delivers nothing this long is closed and reopened (unplugged)."""
    open_seconds: float = 5.0
    """Longest wait for a sound device to open or close (PortAudio blocks on a dead one)."""


@dataclass(frozen=True)
class SndSettings:
    """Where answers and feedback sounds are played (at most one sink; none = discard)."""

    command: str | None = None
    """Shell command reading raw PCM on stdin (e.g. ``aplay -r 22050 -c 1 -f S16_LE -t raw``)."""
    device: str | None = None
    """sounddevice output device name or index."""
    file: Path | None = None
    """Append everything played to this file (raw PCM, or a WAV when it ends in ``.wav``)."""
    rate: int = 22050
    width: int = 2
    channels: int = 1
    """Output format; every sound is converted to it."""
    awake_wav: Path | None = SOUNDS_DIR / "awake.wav"
    """Played when the wake word is heard (None: silent)."""
    done_wav: Path | None = SOUNDS_DIR / "done.wav"
    """Played when the satellite stops listening (None: silent)."""
    timer_finished_wav: Path | None = SOUNDS_DIR / "timer_finished.wav"
    """Played when Home Assistant reports a finished timer (None: silent)."""


@dataclass(frozen=True)
class WakeSettings:
    """Wake word engine and its debounce."""

    engine: str = "openwakeword"
    """``openwakeword`` or ``microwakeword``."""
    names: tuple[str, ...] = ("ok_nabu",)
    """Bundled model names (``hey_jarvis``) or paths to custom ``.tflite`` (openWakeWord) or
    ``.json`` (microWakeWord) models."""
    threshold: float | None = None
    """Score a frame must reach; None: the engine's default (0.5, or the model's own cutoff)."""
    trigger_level: int = 1
    """Consecutive frames at or above the threshold needed to fire."""
    refractory_seconds: float = 2.0
    """After a detection the same engine cannot fire again for this long (debounce)."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True)
class VadSettings:
    """End-of-speech detection for one turn, as the command line spells it (milliseconds).

    The defaults are the shared ``SATELLITE_RULES`` (``wyoming_rtx.audio.endpoint``, which
    says why 500 ms of silence); ``rules`` turns these back into the detector's rules.
    """

    threshold: float = 0.5
    """Silero speech probability above which a 32 ms chunk is speech."""
    silence_ms: int = _ms(SATELLITE_RULES.silence_seconds)
    """Silence after speech that ends the turn."""
    min_speech_ms: int = _ms(SATELLITE_RULES.min_speech_seconds)
    """Speech must last this long before the turn counts as started (ignores clicks)."""
    no_speech_seconds: float = SATELLITE_RULES.no_speech_seconds
    """A turn in which speech never starts ends after this long."""
    max_seconds: float = SATELLITE_RULES.max_seconds
    """Hard cap on one turn's length."""
    preroll_ms: int = _ms(SATELLITE_RULES.preroll_seconds)
    """Audio from just before the detection that is sent with the turn: words said right after
    the wake phrase while the detector was still deciding (it fires 40-140 ms after the phrase
    ends), without sending much of the phrase itself to the speech recognizer."""
    turn_model: str = "auto"
    """Smart Turn v3, which lets a turn end at a short pause when its sound is surely complete
    (``satellite/turn_judge.py``): ``auto`` is the model the pipecat-ai wheel carries, if
    installed (else the silence rule alone decides), ``none`` turns it off, or a local
    ``.onnx`` file."""

    @property
    def rules(self) -> EndOfTurnRules:
        """These settings as the shared end-of-turn detector's rules."""
        return EndOfTurnRules(
            silence_seconds=self.silence_ms / 1000,
            min_speech_seconds=self.min_speech_ms / 1000,
            no_speech_seconds=self.no_speech_seconds,
            max_seconds=self.max_seconds,
            preroll_seconds=self.preroll_ms / 1000,
        )


@dataclass(frozen=True)
class SatelliteSettings:
    """One satellite: who it is, how it listens and where its turns go."""

    name: str = field(default_factory=lambda: socket.gethostname())
    """Who this satellite is to the server (its conversation, status and area) and to Home
    Assistant: the host's name by default, so every room differs without configuration."""
    area: str | None = None
    mic: MicSettings = field(default_factory=MicSettings)
    snd: SndSettings = field(default_factory=SndSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    vad: VadSettings = field(default_factory=VadSettings)
    response_timeout_seconds: float = 30.0
    """After ``audio-stop``, how long to wait for the answer before listening again."""
    barge_in: bool = True
    """The wake word stops an answer (or a timer's ring) that is playing and starts a turn.
    The satellite's own answer then reaches the wake word through the microphone: see
    ``bench/satellite_detect.py`` for how often speech like it wakes it falsely."""


@dataclass(frozen=True)
class DirectSettings:
    """Direct mode: this satellite connects to a wyoming-rtx server."""

    server_uri: str | None = None
    """``tcp://host:port``; None: browse zeroconf for ``_wyoming._tcp.local.``."""
    reconnect_seconds: float = 1.0
    reconnect_max_seconds: float = 30.0
    ping_seconds: float = 2.0
    """Ping interval; the link counts as dead after three intervals without any event."""
    discovery_seconds: float = 3.0
    """How long one zeroconf browse waits for servers."""
    zeroconf_interfaces: tuple[str, ...] | None = None
    """Interfaces zeroconf may use (None: all); tests pass ``("127.0.0.1",)``."""


@dataclass(frozen=True)
class HaSettings:
    """Home Assistant mode: Home Assistant connects to this satellite."""

    uri: str = "tcp://0.0.0.0:10700"
    zeroconf: bool = True
    zeroconf_name: str | None = None
    """Instance name announced (default: the satellite's name)."""
    zeroconf_host: str | None = None
    """Address announced (default: this host's LAN address, never 0.0.0.0)."""
    zeroconf_interfaces: tuple[str, ...] | None = None
    allow: tuple[str, ...] = PRIVATE_NETWORKS
    """``--ha-allow``: CIDR ranges that may connect; others get an ``error`` event and are
    closed before anything they send is read (default: loopback, private and link-local)."""
    hold_seconds: float = 5.0
    """The connection that owns the satellite is kept from newcomers while it sent an event
    within this long. Home Assistant pings 2 s after each pong and gives up itself after 5 s
    of silence (``_PING_SEND_DELAY``/``_PING_TIMEOUT`` in its wyoming assist_satellite.py),
    so a live Home Assistant is never silent this long while it runs the satellite."""
    claim_grace_seconds: float = 0.5
    """A newcomer meeting a live owner waits this long for the owner to close before it is
    refused: Home Assistant closes its old connection just before it opens the new one, and
    the new one's first event may be read before the old one's end."""
