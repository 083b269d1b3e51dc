"""Typed, immutable settings built once from the command line.

Handlers and engines receive these dataclasses, never the argparse namespace, so each
stage can be constructed in tests without a command line and the CLI stays the single
configuration surface (the add-on maps its options onto the same flags).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .lan import PRIVATE_NETWORKS

DEFAULT_PORT = 10900
"""Default TCP port: clear of the official add-ons (10200 piper, 10300 whisper,
10400 openwakeword, 10700 satellite)."""

DEFAULT_URI = f"tcp://0.0.0.0:{DEFAULT_PORT}"

DEFAULT_ALLOW = PRIVATE_NETWORKS
"""Peers the Wyoming port serves by default: loopback, the private (RFC 1918 / unique local)
ranges and link-local addresses; a home's LAN, never the internet (the satellite's
``--ha-allow`` default is the same list)."""


def default_data_dir() -> Path:
    """Where the server keeps what it generates (the status page's token): the add-on's /data
    is passed explicitly; elsewhere $XDG_DATA_HOME/wyoming-rtx or ~/.local/share/wyoming-rtx."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wyoming-rtx"


@dataclass(frozen=True)
class AsrSettings:
    """Speech-to-text (faster-whisper) settings."""

    model: str = ""
    """Local CTranslate2 model folder or faster-whisper model name; empty = bundled tiny.en."""
    device: str = "auto"
    """auto | cuda | cpu (auto = CUDA when CTranslate2 sees a GPU)."""
    compute_type: str = "auto"
    """auto = the best type the GPU supports (float16, int8_float16, int8, float32), int8 on
    the CPU; any CTranslate2 compute type otherwise."""
    language: str | None = None
    """Default language when the request names none; None = the model's own (en for *.en)."""
    beam_size: int = 0
    """0 = auto: greedy (1) on CPU, 5 on CUDA."""
    initial_prompt: str | None = None
    """Text that biases the decoder, before the home's names."""
    home_vocabulary: bool = True
    """The home's entity, area and floor names bias the decoder too (asr/vocabulary.py)."""
    cpu_threads: int = 0
    """0 = let CTranslate2 choose."""
    max_seconds: float = 30.0
    """Cap on audio per transcription; audio past it is dropped and logged."""
    allow_download: bool = False
    """Opt-in: let faster-whisper fetch a named model from the hub (never by default)."""
    download_dir: Path | None = None
    """Where downloaded models go when allow_download is set."""
    speculative: bool = True
    """Decode during the trailing silence so the transcript is ready at audio-stop."""
    window_seconds: float = 0.0
    """Encoder window for short audio: 0 = whisper's full 30 s; 15 decodes a command about
    twice as fast on a CPU but mishears a little more (see short_window.py)."""
    command_window_seconds: float = 0.0
    """Fast first decode of a direct-satellite turn, kept only when it reads as a local
    command: 0 = auto (15 s on CPU, off on CUDA), 30 = off."""


@dataclass(frozen=True)
class TtsSettings:
    """Text-to-speech (piper) settings."""

    voice: str = ""
    """Voice name (found in voices_dir) or .onnx path; empty = bundled en_US-joe-medium."""
    voices_dir: tuple[Path, ...] = ()
    """Folders searched for *.onnx voices (each with its .onnx.json); all are listed in info."""
    speaker: str | None = None
    """Default speaker (name or id) for multi-speaker voices."""
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    max_text_chars: int = 20_000
    """Cap on text per synthesis request; longer text is refused with an error event."""
    parallel: int = 2
    """How many syntheses may run at once (ONNX sessions are thread-safe; espeak is guarded)."""
    cache_mb: int = 32
    """Rendered short sentences kept for reuse (about 12 minutes of 22 kHz audio); 0 = off."""
    device: str = "cpu"
    """Where piper runs: cpu | cuda | auto (cuda and auto need onnxruntime-gpu, the `gpu` extra,
    and a trial in a child process that works; otherwise the CPU, with one warning for cuda)."""


@dataclass(frozen=True)
class HandleSettings:
    """Intent handling, home and LLM settings."""

    language: str = "en"
    """Intents language (home-assistant-intents)."""
    home_file: Path | None = None
    """Home file (YAML); None and no ha_url = the bundled demo home."""
    ha_url: str | None = None
    """Home Assistant base URL (e.g. http://homeassistant.local:8123, or http://supervisor/core)."""
    ha_token: str | None = field(default=None, repr=False)
    """Long-lived access token (never logged)."""
    reply_mode: str = "handled"
    """handled = we execute and answer; intent = reply intent{name, entities} for HA to execute."""
    ollama_url: str | None = None
    """Ollama base URL; None = no LLM fallback (unmatched text gets a polite not-handled)."""
    llm_url: str | None = None
    """OpenAI-compatible chat API base URL (vLLM, llama.cpp's server, LM Studio, SGLang), e.g.
    http://127.0.0.1:8000/v1; None = not used. Exclusive with ollama_url."""
    llm_api_key: str | None = field(default=None, repr=False)
    """Bearer key for the OpenAI-compatible API, when its server wants one (never logged)."""
    llm_model: str = "llama3.2"
    llm_keep_alive: str = "30m"
    llm_num_ctx: int = 4096
    llm_prompt: str | None = None
    """Extra system prompt text."""
    llm_timeout: float = 20.0
    """Once the first words have come, seconds the LLM may fall silent before the answer is
    ended with a spoken apology."""
    llm_first_token_timeout: float = 60.0
    """Seconds to wait for the LLM's first words (or first tool call): a cold model load or
    a model that thinks before it speaks is slow to start, not broken."""


@dataclass(frozen=True)
class ServerSettings:
    """Transport, discovery and limits for the Wyoming server."""

    uri: str = DEFAULT_URI
    allow: tuple[str, ...] = DEFAULT_ALLOW
    """CIDR ranges whose peers may use the Wyoming port; others get an `error` and are closed."""
    data_dir: Path | None = None
    """Where generated state (the status page's token) is kept; None = default_data_dir()."""
    zeroconf: bool = True
    zeroconf_name: str | None = None
    """Service instance name; None = wyoming-rtx-<hostname>."""
    zeroconf_interfaces: tuple[str, ...] = ()
    """Restrict mDNS to these addresses (tests use 127.0.0.1); empty = all real interfaces."""
    http_uri: str | None = None
    """Status page / metrics, e.g. http://0.0.0.0:10901; None = off."""
    http_token: str | None = field(default=None, repr=False)
    http_trusted_proxies: tuple[str, ...] = ()
    """Only these client addresses may use the status page (the add-on: HA's ingress proxy)."""
    max_header_bytes: int = 64 * 1024
    max_data_bytes: int = 1024 * 1024
    max_payload_bytes: int = 1024 * 1024
    header_timeout: float = 30.0
    """A header line must complete within this many seconds once started."""
    idle_timeout: float | None = None
    """Drop connections silent this long (None = never: HA keeps satellites open)."""
    write_timeout: float = 15.0
    """A client that has not read its output for this long is dropped (output stays bounded)."""
    hold_memory: bool = True
    """Keep the decoders' working memory between requests (faster STT, flat memory per
    request, bigger peaks under many concurrent clients); False with --release-memory."""
    reclaim_memory: bool = True
    """When idle after a burst, hand the heaps' fragmented free pages back (memory.py)."""
    end_of_turn: str = "smart"
    """Who ends a direct satellite's turn: ``smart``, this server, when the utterance is
    complete (pipeline/turn_end.py); ``satellite``, the satellite's own silence rule."""
    turn_model: str = "auto"
    """The Smart Turn ONNX model: ``auto`` (the one pipecat-ai carries, if installed), a
    local path, or ``none`` (judge the transcript only)."""
