"""The server's options, one function per group of ``--help``: each adds its flags, their
defaults and their help to the parser that ``cli.build_parser`` makes.

Kept apart from cli.py so that the long list of flags and help texts is one module and the
mapping of parsed options onto settings (with its usage errors) is another.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .config_checks import COMPUTE_TYPES
from .settings import DEFAULT_URI
from .version import __version__


def add_server_options(p: argparse.ArgumentParser) -> None:
    """Transport, discovery, status page, limits and logging."""
    p.add_argument(
        "--uri",
        default=DEFAULT_URI,
        help="where to serve: tcp://HOST:PORT, unix://PATH or stdio://",
    )
    p.add_argument("--debug", action="store_true", help="log DEBUG messages")
    p.add_argument(
        "--log-format",
        default="%(asctime)s %(levelname)s %(name)s: %(message)s",
        help="Python logging format of each log line",
    )
    p.add_argument("--version", action="version", version=__version__)
    p.add_argument(
        "--zeroconf-name", help="service name to announce (default: wyoming-rtx-HOSTNAME)"
    )
    p.add_argument("--no-zeroconf", action="store_true", help="do not announce by zeroconf")
    p.add_argument(
        "--http-uri",
        help="serve the status page and /metrics here, e.g. http://0.0.0.0:10901 "
        "(default: no status page)",
    )
    p.add_argument(
        "--allow",
        action="append",
        metavar="CIDR",
        help="peers allowed to use the Wyoming port (repeatable); others get an error event and "
        "are closed. Default: loopback, private and link-local ranges (a home LAN); "
        "--allow 0.0.0.0/0 --allow ::/0 serves everyone",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="where generated state (the status page's token) is kept "
        "(default: $XDG_DATA_HOME/wyoming-rtx or ~/.local/share/wyoming-rtx)",
    )
    p.add_argument(
        "--http-token",
        help="access token for the status page (visible in `ps`: prefer --http-token-file or "
        "the WYOMING_RTX_HTTP_TOKEN environment variable; default: none on loopback, else one "
        "generated once and kept in --data-dir)",
    )
    p.add_argument(
        "--http-token-file",
        type=Path,
        help="file whose first line is the status page's token (default: see --http-token)",
    )
    p.add_argument(
        "--http-trusted-proxy",
        action="append",
        default=[],
        help="only this address may use the status page, without a token (repeatable; "
        "add-on: 172.30.32.2; default: anyone with the token)",
    )
    p.add_argument(
        "--header-timeout", type=float, default=30.0, help="seconds to finish a started frame"
    )
    p.add_argument(
        "--write-timeout",
        type=float,
        default=15.0,
        help="seconds a client may leave its answer unread before it is dropped",
    )
    p.add_argument(
        "--release-memory",
        action="store_true",
        help="give decoder working memory back after each request: smaller peaks under many "
        "concurrent clients, CPU STT ~17%% slower (see README)",
    )
    p.add_argument(
        "--no-memory-reclaim",
        action="store_true",
        help="do not give fragmented free heap memory back when idle after a burst",
    )


def add_asr_options(asr: argparse._ArgumentGroup) -> None:
    """faster-whisper: model, device, decoding."""
    asr.add_argument(
        "--asr-model",
        default="",
        help="local CTranslate2 model folder or faster-whisper name such as small.en "
        "(default: the bundled tiny.en)",
    )
    asr.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cuda", "cpu"],
        help="where speech-to-text runs; auto: CUDA when a GPU is usable, else the CPU",
    )
    asr.add_argument(
        "--compute-type",
        default="auto",
        metavar="TYPE",
        help=f"CTranslate2 compute type, one of {', '.join(COMPUTE_TYPES)}; "
        "auto: the best the GPU supports (float16, int8_float16, int8, float32), int8 on the CPU",
    )
    asr.add_argument(
        "--language",
        help="default language, e.g. en or de-CH; also selects the intents "
        "(default: the model's own language, English intents)",
    )
    asr.add_argument(
        "--beam-size", type=int, default=0, help="beam width; 0 = auto (1 on CPU, 5 on CUDA)"
    )
    asr.add_argument(
        "--initial-prompt",
        help="text that biases the decoder, before the home's names (default: none)",
    )
    asr.add_argument(
        "--no-home-vocabulary",
        action="store_true",
        help="do not bias the decoder with the names of the home's exposed entities, areas "
        "and floors (by default they are whisper's prompt, so unusual names are heard)",
    )
    asr.add_argument(
        "--cpu-threads",
        type=int,
        default=0,
        help="CPU threads per decoder; 0 = CTranslate2's choice",
    )
    asr.add_argument(
        "--max-audio-seconds",
        type=float,
        default=30.0,
        help="audio per transcription past this is dropped",
    )
    asr.add_argument(
        "--allow-download",
        action="store_true",
        help="let a named --asr-model be downloaded from the Hugging Face hub",
    )
    asr.add_argument(
        "--download-dir",
        type=Path,
        help="where downloaded models are kept (default: the Hugging Face cache)",
    )
    asr.add_argument(
        "--end-of-turn",
        choices=("smart", "satellite"),
        default="smart",
        help="who ends a direct satellite's turn: smart = this server, as soon as the "
        "utterance is complete (Smart Turn on the audio and the transcript, after a 0.2 s "
        "pause; up to 2 s for one that sounds unfinished); satellite = the satellite's own "
        "silence rule (default: %(default)s)",
    )
    asr.add_argument(
        "--turn-model",
        default="auto",
        metavar="auto|none|PATH",
        help="Smart Turn v3 ONNX model for --end-of-turn smart: auto = the one the "
        "pipecat-ai package carries (installed by script/setup), none = judge on the "
        "transcript alone, or a local .onnx file (default: %(default)s)",
    )
    asr.add_argument(
        "--no-speculative",
        action="store_true",
        help="do not decode during the trailing silence (the transcript is then later)",
    )
    asr.add_argument(
        "--asr-window-seconds",
        type=float,
        default=0.0,
        help="encoder window for short audio: 0 = whisper's 30 s; 15 = ~2x faster on CPU",
    )
    asr.add_argument(
        "--asr-command-window-seconds",
        type=float,
        default=0.0,
        help="fast first decode of satellite turns, kept if it is a local command (else it "
        "is decoded again in this window: other prompts, then beam search): "
        "0 = auto (15 on CPU, off on CUDA), 30 = off",
    )


def add_tts_options(tts: argparse._ArgumentGroup) -> None:
    """piper: voices and synthesis."""
    tts.add_argument(
        "--voice",
        default="",
        help="voice name (found in --voices-dir) or .onnx path (default: the bundled "
        "en_US-joe-medium)",
    )
    tts.add_argument(
        "--voices-dir",
        type=Path,
        action="append",
        default=[],
        help="folder of piper voices (*.onnx with their .onnx.json), all listed to Home "
        "Assistant (repeatable; default: the bundled voice only)",
    )
    tts.add_argument(
        "--speaker", help="default speaker name or id (default: the voice's first speaker)"
    )
    tts.add_argument(
        "--length-scale", type=float, help="speaking pace, >1 slower (default: the voice's own)"
    )
    tts.add_argument("--noise-scale", type=float, help="voice variation (default: the voice's own)")
    tts.add_argument(
        "--noise-w-scale", type=float, help="timing variation (default: the voice's own)"
    )
    tts.add_argument(
        "--max-text-chars",
        type=int,
        default=20_000,
        help="longer text to speak is refused with an error event",
    )
    tts.add_argument(
        "--tts-device",
        default="cpu",
        choices=["cpu", "cuda", "auto"],
        help="where piper runs; cuda and auto need onnxruntime-gpu (the gpu extra) and fall "
        "back to the CPU when a trial in a child process fails",
    )
    tts.add_argument("--tts-parallel", type=int, default=2, help="syntheses run at once")
    tts.add_argument(
        "--tts-cache-mb", type=int, default=32, help="cache of rendered sentences; 0 = off"
    )


def add_handle_options(handle: argparse._ArgumentGroup) -> None:
    """The home, Home Assistant and the LLM."""
    handle.add_argument("--home-file", type=Path, help="home YAML (default: the bundled demo home)")
    handle.add_argument(
        "--ha-url",
        help="Home Assistant URL, e.g. http://homeassistant.local:8123 (default: use --home-file)",
    )
    handle.add_argument(
        "--ha-token",
        help="Home Assistant long-lived access token (default: the HA_TOKEN environment variable)",
    )
    handle.add_argument(
        "--reply-mode",
        default="handled",
        choices=["handled", "intent"],
        help="handled: run commands and answer; intent: send Home Assistant the intent to run",
    )
    handle.add_argument(
        "--ollama-url",
        help="Ollama URL for what the intents do not handle, e.g. http://127.0.0.1:11434 "
        "(default: no LLM, a polite not-handled)",
    )
    handle.add_argument(
        "--llm-url",
        help="an OpenAI-compatible chat API instead of Ollama (vLLM, llama.cpp's server, "
        "LM Studio, SGLang), e.g. http://127.0.0.1:8000/v1 (default: none)",
    )
    handle.add_argument(
        "--llm-api-key-file",
        type=Path,
        help="file whose first line is the key for --llm-url (default: the "
        "WYOMING_RTX_LLM_API_KEY environment variable, else no key)",
    )
    handle.add_argument("--llm-model", default="llama3.2", help="model name the LLM server knows")
    handle.add_argument(
        "--llm-keep-alive",
        default="30m",
        help="how long Ollama keeps the model loaded after a request: a duration such as "
        "30m or 1h, -1h for always, 0 to unload at once",
    )
    handle.add_argument(
        "--llm-num-ctx", type=int, default=4096, help="Ollama context window in tokens"
    )
    handle.add_argument("--llm-prompt", help="extra system prompt text (default: none)")
    handle.add_argument(
        "--llm-timeout",
        type=float,
        default=20.0,
        help="seconds the LLM may fall silent once it has started answering",
    )
    handle.add_argument(
        "--llm-first-token-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the LLM's first words: covers a cold model load",
    )
