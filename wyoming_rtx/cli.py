"""The server's command line: the parser (its options and their help are in cli_options.py),
and the parsed options turned into settings.

A bad value or combination of options is a usage error (exit 2, the option named) before
anything starts; the checks themselves live in config_checks.py.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .cli_help import DefaultsHelpFormatter
from .cli_options import (
    add_asr_options,
    add_handle_options,
    add_server_options,
    add_tts_options,
)
from .config_checks import (
    check_args,
    read_http_token,
    read_llm_api_key,
)
from .language import primary_language
from .settings import (
    DEFAULT_ALLOW,
    AsrSettings,
    HandleSettings,
    ServerSettings,
    TtsSettings,
)


def build_parser() -> argparse.ArgumentParser:
    """Every option of the server; the add-on maps its options onto these same flags."""
    p = argparse.ArgumentParser(
        prog="wyoming-rtx",
        description="Local voice assistant server: speech-to-text, intents/LLM, text-to-speech.",
        formatter_class=DefaultsHelpFormatter,
    )
    add_server_options(p)
    add_asr_options(p.add_argument_group("speech-to-text"))
    add_tts_options(p.add_argument_group("text-to-speech"))
    add_handle_options(p.add_argument_group("handling"))
    return p


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
