"""End of the user's turn: end of speech -> first answer sound, per end-of-turn rule (issue 19).

    .venv/bin/python bench/end_of_turn.py --quick                  # a subset, under 4 minutes
    .venv/bin/python bench/end_of_turn.py [--configs fixed500,ha700,satjudge,smart,smart-nomodel]
    .venv/bin/python bench/end_of_turn.py --configs smart --corpus-seed 24,25,26  # pooled

The recordings are made at bench time (``bench/turn_corpus.py``): several voices, room noise,
hesitations of 0.5-1.0 s, commands spoken slowly, and questions, with names from a home the
project was not tuned on (``bench/turn_home.yaml``). Every item goes through every end-of-turn
configuration in one run, interleaved item by item (the configurations' order rotates), so the
load drifting on this shared machine hits them all alike:

- ``fixed500`` "fixed 500 ms": the satellite's silence rule ends the turn after 500 ms;
- ``ha700`` "HA 0.7 s": the same with Home Assistant's 700 ms;
- ``satjudge`` "satellite Smart Turn": the satellite judges its own turn, as it does in Home
  Assistant mode (``satellite/turn_judge.py``): Smart Turn on the sound alone, 0.2 s into each
  pause, ends a surely complete turn there and lets any other wait 1 s; the server does not
  judge (the fixed rules' server);
- ``smart`` "ours (smart)": the server decides (``--end-of-turn smart``, Smart Turn model): it
  says ``voice-started`` when it hears speech and ``voice-stopped`` when it ends the turn; the
  satellite then sends ``audio-stop`` and keeps only a 2.5 s silence rule as a fallback;
- ``smart-nomodel`` "ours, no model": ``--end-of-turn smart --turn-model none``.

The two fixed rules share one server (``--end-of-turn satellite`` where the server has that
option); each other server configuration has its own process, all on the bundled models, with
``--home-file bench/turn_home.yaml``, the speech cache off (``--tts-cache-mb 0``: every answer is
rendered, none replayed) and ``bench/fake_ollama.py`` as the LLM (first token after 150 ms, then
20 tokens/s). Turns run one at a time.

**The satellite is the real one** (``satellite/``): ``SatelliteLoop`` with its shared
``SpeechDetector`` + ``EndOfTurnDetector`` and pre-roll, ``DirectClient`` for the server link
(one connection per configuration, kept for the whole run), ``Speaker`` + ``AnswerPlayer`` for
the answer. The bench only supplies the seams a test would:

- the microphone: the item's samples in 32 ms chunks, each released when it has been "spoken"
  (absolute clock from the first sample, as ``FileMic`` paces in real time); it ends once the
  turn has ended (the loop then waits for the answer to play), or at the recording's end;
- the wake word: an engine that fires on the first chunk, so every turn starts at the item's
  first sample (the lead-in of room noise before the speech);
- the speaker: a sink that stamps the first answer audio written to it (the figure's end);
  the awake and done sounds are off, so the sink sees only the answer;
- a thin wrapper around the transport that stamps when ``audio-stop`` is sent and why.

Where the satellite code does not yet follow the server's ``voice-started``/``voice-stopped``
(its uplink has no ``server_ended``), a bench adapter does what it will do: on
``voice-started`` the turn's silence rule becomes the fallback (2.5 s), and ``voice-stopped``
ends the turn at once (``audio-stop``). The header says which one ran.

Figures, per configuration and kind (command, hesitation, slow, question), in ms:

- **first sound**: the item's true end of speech (``bench/turn_corpus.py``) to the first answer
  audio at the speaker sink, p50 and p95 (nearest rank), over the turns not cut off;
- **endpoint**: true end of speech to the end of the turn (``audio-stop`` sent, or
  ``voice-stopped`` received if sooner), p50, over the same turns;
- **ended early**: turns that ended before the true end of speech (for a hesitation: cut off
  in the pause, the cut-off rate); **words lost**: hesitations whose transcript lacks most of
  the words after the pause;
- **local**: share of turns the intents answered (the server's trace), and the transcript's
  word error rate (``bench/wer.py``).

Goals (issue 19, this 2-core CPU): local command p50 <= 350 ms and p95 <= 500 ms at the
speaker; LLM answer p50 <= 900 ms; at most 2 % of hesitations cut off; no slow command ended
early. Prints a markdown table and writes ``bench/results/latest/end_of_turn.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from server_proc import RunningServer, launch, stop  # noqa: E402
from wyoming_helpers import free_port  # noqa: E402

from bench.fake_ollama import FakeOllama  # noqa: E402
from bench.turn_corpus import Item, Plan, ensure_corpus, read_pcm  # noqa: E402
from bench.turn_rig import REAL_SERVER_END, Config, Rig, TurnStamps  # noqa: E402
from bench.turn_score import TurnRecord, _ms, build_record, report  # noqa: E402
from wyoming_rtx.audio import endpoint  # noqa: E402

RESULTS = REPO / "bench" / "results" / "latest"
HOME_FILE = REPO / "bench" / "turn_home.yaml"
SETTLE_S = 0.3
"""Between turns: the server finishes the last one (played, trace) before the next starts."""
FALLBACK_MS = 2500
"""The satellite's own silence rule once the server judges the turn (issue 19)."""

CONFIGS: dict[str, Config] = {
    c.key: c
    for c in (
        Config("fixed500", "fixed 500 ms", "satellite", 500),
        Config("ha700", "HA 0.7 s", "satellite", 700),
        Config("satjudge", "satellite Smart Turn", "satellite", 500, satellite_judges=True),
        Config("smart", "ours (smart)", "smart", 500, FALLBACK_MS),
        Config("smart-nomodel", "ours, no model", "smart-nomodel", 500, FALLBACK_MS),
    )
}
SERVERS: dict[str, tuple[str, ...]] = {
    "satellite": ("--end-of-turn", "satellite"),
    "smart": ("--end-of-turn", "smart"),
    "smart-nomodel": ("--end-of-turn", "smart", "--turn-model", "none"),
}
"""Server flags per server configuration (where the server has ``--end-of-turn``)."""

QUICK = {"command": 4, "hesitation": 6, "slow": 3, "question": 3}
"""``--quick``: this many items of each kind, spread over the voices."""


# --- running it -----------------------------------------------------------------------------


def server_help() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wyoming_rtx", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    return out.stdout


def corpus_seeds(text: str) -> list[int]:
    """The recordings' seeds from ``--corpus-seed`` ("19" or "24,25,26"), each once."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--corpus-seed takes integers, comma-separated: {text!r}") from None
    if not seeds:
        raise SystemExit("--corpus-seed needs at least one seed")
    return list(dict.fromkeys(seeds))


def quick_items(items: Sequence[Item]) -> list[Item]:
    """``QUICK`` items of each kind, evenly spaced through the kind (so through the voices)."""
    chosen = []
    for kind, count in QUICK.items():
        of_kind = [i for i in items if i.kind == kind]
        step = len(of_kind) / count
        chosen += [of_kind[int(n * step)] for n in range(min(count, len(of_kind)))]
    return chosen


def latest_trace(http_port: int, satellite: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{http_port}/api/status"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            turns = json.load(reply).get("turns", [])
    except (OSError, ValueError):
        return {}
    return next((t for t in turns if t.get("satellite") == satellite), {})


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


async def run(args: argparse.Namespace) -> int:
    help_text = server_help()
    has_end_of_turn = "--end-of-turn" in help_text
    wanted = (
        [k.strip() for k in args.configs.split(",")]
        if args.configs
        else (list(CONFIGS) if has_end_of_turn else ["fixed500", "ha700", "satjudge"])
    )
    unknown = [k for k in wanted if k not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown --configs {unknown}; known: {', '.join(CONFIGS)}")
    configs = [CONFIGS[k] for k in wanted]
    if not has_end_of_turn and any(c.server != "satellite" for c in configs):
        raise SystemExit(
            "this server has no --end-of-turn option yet: use --configs fixed500,ha700"
        )
    if not has_end_of_turn:
        print("note: the server has no --end-of-turn yet; the fixed rules run on its default")
    cache_flag = ("--tts-cache-mb", "0") if "--tts-cache-mb" in help_text else ()

    seeds = corpus_seeds(args.corpus_seed)
    folders, items, pcm = [], [], {}
    for seed in seeds:
        folder, of_seed = ensure_corpus(Plan(seed=seed))
        folders.append(folder)
        if args.quick:
            of_seed = quick_items(of_seed)
        if args.limit:
            of_seed = of_seed[: args.limit]
        for item in of_seed:
            if len(seeds) > 1:  # one name space for several corpora
                item = dataclasses.replace(item, name=f"s{seed}-{item.name}")
            pcm[item.name] = read_pcm(folder / item.file)
            items.append(item)
    order = list(items)
    random.Random(args.seed).shuffle(order)

    load_start = _load()
    fake = FakeOllama(tokens_per_s=args.tokens_per_s, first_token_s=args.first_token_s)
    fake.start()
    servers: dict[str, tuple[RunningServer, int]] = {}
    rigs: dict[str, Rig] = {}
    records: list[TurnRecord] = []
    tmp = Path(tempfile.mkdtemp(prefix="end-of-turn-"))
    started = time.monotonic()
    try:
        for key in dict.fromkeys(c.server for c in configs):
            http_port = free_port()
            flags = SERVERS[key] if has_end_of_turn else ()
            print(f"starting server {key}: {' '.join(flags) or '(default end of turn)'}")
            servers[key] = (
                launch(
                    tmp,
                    "--device",
                    args.device,
                    "--home-file",
                    str(HOME_FILE),
                    "--ollama-url",
                    fake.url,
                    "--llm-model",
                    fake.model,
                    "--http-uri",
                    f"http://127.0.0.1:{http_port}",
                    *cache_flag,
                    *flags,
                    *args.server_arg,
                ),
                http_port,
            )
        for config in configs:
            server, http_port = servers[config.server]
            rigs[config.key] = Rig(config, server.port, http_port)
            await rigs[config.key].start()
        warm = [i for i in items if i.kind == "command"][:1] + [
            i for i in items if i.kind == "question"
        ][:1]
        for config in configs:  # first-use costs stay out of the figures
            for item in warm:
                with contextlib.suppress(Exception):
                    await rigs[config.key].turn(item, pcm[item.name])
                await asyncio.sleep(SETTLE_S)
        total = len(order) * len(configs)
        for n, item in enumerate(order):
            shift = n % len(configs)
            for config in configs[shift:] + configs[:shift]:
                records.append(await one_turn(rigs[config.key], config, item, pcm[item.name], fake))
                r = records[-1]
                print(
                    f"  {len(records):3}/{total} {config.key:13} {item.name:14} "
                    f"end {_ms(None if r.endpoint_s is None else r.endpoint_s * 1000):>5} "
                    f"sound {_ms(None if r.first_sound_s is None else r.first_sound_s * 1000):>5}"
                    f" {r.ended_by:18} {r.source:5} {'CUT ' if r.cut_off else ''}"
                    f"{r.transcript[:48]!r}{' ' + r.error[:60] if r.error else ''}"
                )
    finally:
        for rig in rigs.values():
            await rig.close()
        codes = {key: stop(server) for key, (server, _) in servers.items()}
        fake.stop()
    elapsed = time.monotonic() - started
    satellite_code = (
        "the satellite's own (voice-started/voice-stopped followed by satellite/)"
        if REAL_SERVER_END
        else "bench adapter (satellite/ does not follow voice-started/voice-stopped yet)"
    )
    fallback = getattr(endpoint, "SATELLITE_FALLBACK_SECONDS", None)
    header = [
        f"End of turn, direct satellite: {len(order)} items x {len(configs)} configurations"
        f"{' (--quick)' if args.quick else ''}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{elapsed:.0f} s",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {args.device}; load "
        f"(1/5 min) {load_start} at start, {_load()} at end",
        f"- server: bundled models, --home-file bench/turn_home.yaml; speech cache "
        f"{'off (--tts-cache-mb 0): figures are rendered speech' if cache_flag else 'on'}; "
        f"fake Ollama first token {args.first_token_s * 1000:.0f} ms, "
        f"{args.tokens_per_s:g} tokens/s; exit codes {codes}",
        f"- corpus: bench/turn_corpus.py seed {args.corpus_seed} "
        f"({', '.join(folder.name for folder in folders)}); order seed {args.seed}",
        f"- server end of turn on the satellite: {satellite_code}"
        + (
            f"; fallback silence {fallback:g} s"
            if REAL_SERVER_END and fallback
            else f"; fallback silence {FALLBACK_MS} ms"
        ),
    ]
    table = report(records, configs, header)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "end_of_turn.md").write_text(table + "\n")
    payload = {
        "header": header,
        "configs": [asdict(c) for c in configs],
        "items": [asdict(i) for i in items],
        "turns": [
            asdict(r)
            | {"cut_off": r.cut_off, "cut_in_pause": r.cut_in_pause, "words_lost": r.words_lost}
            for r in records
        ],
    }
    (args.out / "end_of_turn.json").write_text(json.dumps(payload, indent=1) + "\n")
    failed = any(code != 0 for code in codes.values()) or not records
    return 1 if failed else 0


async def one_turn(
    rig: Rig, config: Config, item: Item, pcm: bytes, fake: FakeOllama
) -> TurnRecord:
    chats = fake.chat_requests
    error = ""
    stamps, transcript, answer = TurnStamps(), "", ""
    try:
        stamps, transcript, answer = await rig.turn(item, pcm)
    except Exception as err:  # noqa: BLE001 - recorded, the run goes on
        error = repr(err)[:300]
        stamps = rig.last
    await asyncio.sleep(SETTLE_S)  # the trace finishes (played) before it is read
    trace = await asyncio.to_thread(latest_trace, rig.http_port, rig.settings.name)
    return build_record(
        config, item, stamps, transcript, answer, trace, fake.chat_requests - chats, error
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a subset ({sum(QUICK.values())} items), under 4 minutes",
    )
    parser.add_argument(
        "--configs",
        default="",
        help=f"comma-separated, of {', '.join(CONFIGS)} (default: all the server supports)",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N items (smoke)")
    parser.add_argument("--seed", type=int, default=1, help="order of the items")
    parser.add_argument(
        "--corpus-seed",
        default=str(Plan.seed),
        help="the recordings' seed (bench/turn_corpus.py), or several, comma-separated "
        "(e.g. 24,25,26): their items run as one corpus and the figures pool them (a "
        "nearest-rank p95 over 16 commands is the slowest, over 48 the third slowest)",
    )
    parser.add_argument("--tokens-per-s", type=float, default=20.0, help="fake LLM rate")
    parser.add_argument("--first-token-s", type=float, default=0.15)
    parser.add_argument("--device", default="cpu", help="server --device (cpu, cuda, auto)")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra flag for every server (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
