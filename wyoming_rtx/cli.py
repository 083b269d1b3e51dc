"""The server's command line: its options and their help, and the parsed options turned into
settings.

A bad value or combination of options is a usage error (exit 2, the option named) before
anything starts; the checks themselves live in config_checks.py.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .cli_help import DefaultsHelpFormatter
from .config_checks import (
    COMPUTE_TYPES,
    check_args,
    read_http_token,
    read_llm_api_key,
)
from .language import primary_language
from .settings import (
    DEFAULT_ALLOW,
    DEFAULT_URI,
    AsrSettings,
    HandleSettings,
    ServerSettings,
    TtsSettings,
)
from .version import __version__


def build_parser() -> argparse.ArgumentParser:
    """Every option of the server; the add-on maps its options onto these same flags."""
    p = argparse.ArgumentParser(
        prog="wyoming-rtx",
        description="Local voice assistant server: speech-to-text, intents/LLM, text-to-speech.",
        formatter_class=DefaultsHelpFormatter,
    )
    _server_options(p)
    _asr_options(p.add_argument_group("speech-to-text"))
    _tts_options(p.add_argument_group("text-to-speech"))
    _handle_options(p.add_argument_group("handling"))
    return p


def _server_options(p: argparse.ArgumentParser) -> None:
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


def _asr_options(asr: argparse._ArgumentGroup) -> None:
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
        help="fast first decode of satellite turns, kept if it is a local command (else a "
        "question is decoded again in this window, anything else in the full one): "
        "0 = auto (15 on CPU, off on CUDA), 30 = off",
    )


def _tts_options(tts: argparse._ArgumentGroup) -> None:
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


def _handle_options(handle: argparse._ArgumentGroup) -> None:
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


def settings_from_args(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[ServerSettings, AsrSettings, TtsSettings, HandleSettings]:
    """Map flags to settings once, rejecting bad values and combinations with a usage error
    (exit 2, the option named) before anything listens."""
    check_args(args, parser)
    ha_token = args.ha_token or os.environ.get("HA_TOKEN")
    allow = tuple(args.allow) if args.allow else DEFAULT_ALLOW
    http_token = read_http_token(args, parser)
    if args.ollama_url and args.llm_url:
        parser.error("use either --ollama-url or --llm-url, not both")
    if args.llm_api_key_file and not args.llm_url:
        parser.error("--llm-api-key-file is for --llm-url: add --llm-url")
    if args.ha_url and args.home_file:
        parser.error("use either --ha-url or --home-file, not both")
    if args.turn_model not in ("auto", "none") and not Path(args.turn_model).is_file():
        parser.error(f"--turn-model {args.turn_model}: no such file (or auto, or none)")
    if args.ha_url and not ha_token:
        parser.error("--ha-url needs --ha-token (or the HA_TOKEN environment variable)")
    server = ServerSettings(
        uri=args.uri,
        allow=allow,
        data_dir=args.data_dir,
        zeroconf=not args.no_zeroconf,
        zeroconf_name=args.zeroconf_name,
        http_uri=args.http_uri,
        http_token=http_token,
        http_trusted_proxies=tuple(args.http_trusted_proxy),
        header_timeout=args.header_timeout,
        write_timeout=args.write_timeout,
        hold_memory=not args.release_memory,
        reclaim_memory=not args.no_memory_reclaim,
        end_of_turn=args.end_of_turn,
        turn_model=args.turn_model,
    )
    asr = AsrSettings(
        model=args.asr_model,
        device=args.device,
        compute_type=args.compute_type,
        language=args.language,
        beam_size=args.beam_size,
        initial_prompt=args.initial_prompt,
        home_vocabulary=not args.no_home_vocabulary,
        cpu_threads=args.cpu_threads,
        max_seconds=args.max_audio_seconds,
        allow_download=args.allow_download,
        download_dir=args.download_dir,
        speculative=not args.no_speculative,
        window_seconds=args.asr_window_seconds,
        command_window_seconds=args.asr_command_window_seconds,
    )
    tts = TtsSettings(
        voice=args.voice,
        voices_dir=tuple(args.voices_dir),
        speaker=args.speaker,
        length_scale=args.length_scale,
        noise_scale=args.noise_scale,
        noise_w_scale=args.noise_w_scale,
        max_text_chars=args.max_text_chars,
        parallel=args.tts_parallel,
        cache_mb=args.tts_cache_mb,
        device=args.tts_device,
    )
    handle = HandleSettings(
        language=primary_language(args.language) or "en",
        home_file=args.home_file,
        ha_url=args.ha_url,
        ha_token=ha_token,
        reply_mode=args.reply_mode,
        ollama_url=args.ollama_url,
        llm_url=args.llm_url,
        llm_api_key=read_llm_api_key(args, parser),
        llm_model=args.llm_model,
        llm_keep_alive=args.llm_keep_alive,
        llm_num_ctx=args.llm_num_ctx,
        llm_prompt=args.llm_prompt,
        llm_timeout=args.llm_timeout,
        llm_first_token_timeout=args.llm_first_token_timeout,
    )
    return server, asr, tts, handle
