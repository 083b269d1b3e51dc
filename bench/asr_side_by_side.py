"""Speech-to-text side by side with wyoming-faster-whisper on a corpus the project never tuned on
(issue 20), through Home Assistant's speech-to-text exchange.

    .venv/bin/python bench/asr_side_by_side.py --quick      # a subset, under 5 minutes
    .venv/bin/python bench/asr_side_by_side.py --quick --babble-seed 20 --babble-seed 1  # + babble
    .venv/bin/python bench/asr_side_by_side.py [--limit N] [--server-arg=--no-home-vocabulary]

**Corpus.** Every item of the end-of-turn corpus (``bench/turn_corpus.py``, recordings made at
bench time: piper and espeak-ng voices, half of them in sox pink or brown noise at 20 dB SNR,
hesitations, slow commands, questions; names from ``bench/turn_home.yaml``), sent as made
(subsets **quiet** and **noisy**), and two versions derived here from the same items:

- **telephone**: resampled to 8 kHz (``resample_poly``), band-limited to 300-3400 Hz (4th-order
  Butterworth, zero phase) and sent *as 8 kHz*, so each server converts it;
- **44.1 kHz stereo**: resampled up and sent as 44.1 kHz, 2 channels (the right one 1 dB lower,
  as two microphones never match).

Each utterance is the recording cut ``0.7 s`` after its true end of speech (``speech_end_s``):
Home Assistant's VAD waits that long, then sends ``audio-stop``, so the servers get the room's
own 0.7 s tail (not digital silence) and nothing after it. Plus a **non-speech** set made here,
10 s each at 16 kHz: appliance beeps over a fridge hum, a fan (brown noise with a blade
flutter), music-like chords, and TV-like babble of reversed corpus speech at a low level; every
word a server returns for them is counted (goal 0).

**Run.** Our server (``python -m wyoming_rtx``, ``bench/run.py``'s command line plus
``--home-file bench/turn_home.yaml`` so its name vocabulary is that home's) and
wyoming-faster-whisper 3.8.1 (``bench/peers.py``: its own venv, the same tiny.en folder, the
same decoding settings) are started by ``bench/servers.py``, each warmed up with one untimed
request per audio format (a committed ``bench/corpus`` command, never a measured one), then
every utterance goes to both, one request at a time, back to back, alternating which goes first,
in a seeded shuffled order (so the load drifting on this shared machine hits every subset
alike). Each request is ``bench/client.py``'s: a fresh TCP connection, ``transcribe{language:
en}``, ``audio-start``, 10 ms ``audio-chunk``s at real-time pace on absolute deadlines,
``audio-stop``; the clock is ``audio-stop`` written -> ``transcript`` read.

**Report** (markdown printed and written to ``bench/results/latest/asr_side_by_side.md``, every
transcript in ``.json``): per subset and pooled, the word error rate (``bench/wer.py``) ours /
peer / ratio and the home's **name error rate** (of the home's area and device names said, the
share missing from the transcript; ``bench/asr_names.py``'s helpers); non-speech words;
``audio-stop`` -> transcript p50 and p90 (nearest rank); issue 20's goals checked; the items
where ours made more word errors than the peer. A failed request counts as an empty transcript
(every word lost) and is listed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.asr_side_corpus import (  # noqa: E402
    HA_VAD_WAIT_S,
    NON_SPEECH,
    NON_SPEECH_SECONDS,
    QUICK_PER_KIND,
    Utterance,
    build_corpus,
    extra_babble,
    quick_items,
    warm_audio,
)
from bench.asr_side_report import (  # noqa: E402
    Record,
    Run,
    goals,
    latency_table,
    non_speech_table,
    render,
    wer_table,
    worse_items,
)
from bench.client import Audio, transcribe  # noqa: E402
from bench.figures import OURS, PEER, ROLES  # noqa: E402
from bench.peers import PEER_PINS, ModelPaths, bundled_models, ensure_peer_venv, whisper_spec  # noqa: E402
from bench.run import ours_spec, versions  # noqa: E402
from bench.servers import RunningServer, ServerSpec  # noqa: E402
from bench.turn_corpus import ensure_corpus  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HOME_FILE = REPO / "bench" / "turn_home.yaml"
OUT_DIR = REPO / "bench" / "results" / "latest"

SETTLE_S = 0.05
"""Pause between requests, so one server's tail work does not land in the other's request."""
REQUEST_TIMEOUT_S = 60.0
TIME_LIMITS_S = {"quick": 480.0, "full": 2400.0}


# --- the run ----------------------------------------------------------------------------------


def home_names(path: Path = HOME_FILE) -> list[str]:
    """The home's area and device names, as ``bench/asr_names.py`` counts them."""
    from wyoming_rtx.home.home_file import FileHome

    async def load() -> list[str]:
        home = FileHome(path)
        await home.start()
        snapshot = home.snapshot
        return [a.name for a in snapshot.areas.values()] + [
            e.name for e in snapshot.entities.values()
        ]

    return asyncio.run(load())


async def warm_up(server: RunningServer, audios: Sequence[Audio]) -> None:
    """One untimed request per audio format: models and resamplers load on first use."""
    for audio in audios:
        await transcribe(
            server.host, server.port, audio, realtime=False, trailing_silence_s=0.0, timeout=300
        )


async def one_request(server: RunningServer, role: str, u: Utterance, first: bool) -> Record:
    record = Record(role, u.name, u.subset, u.reference, first=first)
    try:
        got = await transcribe(
            server.host,
            server.port,
            u.audio,
            realtime=True,
            trailing_silence_s=0.0,
            timeout=REQUEST_TIMEOUT_S,
        )
    except Exception as err:  # noqa: BLE001 - counted and reported, never fatal
        record.error = repr(err)[:300]
    else:
        record.text, record.finish_s = got.text, got.finish_s
    return record


async def measure(servers: dict[str, RunningServer], order: Sequence[Utterance], run: Run) -> None:
    """Each utterance to both servers back to back, alternating which goes first."""
    total = len(order)
    for n, u in enumerate(order):
        roles = ROLES if n % 2 == 0 else tuple(reversed(ROLES))
        for k, role in enumerate(roles):
            r = await one_request(servers[role], role, u, first=k == 0)
            run.records.append(r)
            ms = "fail" if r.finish_s is None else f"{r.finish_s * 1000:4.0f}"
            print(
                f"  {n + 1:3}/{total} {u.subset:10} {u.name:22} {role:4} {ms} ms "
                f"{(r.error or r.text)[:60]!r}",
                flush=True,
            )
            await asyncio.sleep(SETTLE_S)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_PER_KIND} items per kind (one quiet, one noisy): under 5 min",
    )
    p.add_argument("--limit", type=int, help="only the first N corpus items")
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for our server, repeatable (--server-arg=--no-home-vocabulary)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--asr-model", type=Path, help="CTranslate2 whisper folder (default tiny.en)")
    p.add_argument("--compute-type", help="default int8 on cpu, float16 on cuda")
    p.add_argument("--beam-size", type=int, help="default 1 on cpu, 5 on cuda (both servers)")
    p.add_argument("--seed", type=int, default=20, help="order of the utterances")
    p.add_argument(
        "--babble-seed",
        type=int,
        action="append",
        default=[],
        metavar="SEED",
        help="add the full run's TV babble made with this seed (20: the full run's own), "
        "repeatable",
    )
    p.add_argument("--time-limit", type=float, help="seconds (default 480 quick, 2400 full)")
    p.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the .md and .json")
    return p.parse_args(argv)


def server_specs(args: argparse.Namespace, models: ModelPaths, tmp: Path) -> dict[str, ServerSpec]:
    """Ours as ``bench/run.py`` starts it plus the bench home; the peer as ``bench/peers.py``."""
    venv_python = REPO / ".venv" / "bin" / "python"
    run_args = argparse.Namespace(
        ours_python=venv_python if venv_python.exists() else Path(sys.executable),
        device=args.device,
        compute_type=args.compute_type,
        beam_size=args.beam_size,
        cpu_threads=None,
        ours_arg=["--home-file", str(HOME_FILE), *args.server_arg],
    )
    data_dir = Path(tempfile.mkdtemp(prefix="peer-whisper-", dir=tmp))
    return {
        OURS: ours_spec(run_args, models, None),
        PEER: whisper_spec(
            models,
            data_dir,
            device=args.device,
            compute_type=args.compute_type,
            beam_size=args.beam_size,
        ),
    }


async def run_servers(
    specs: dict[str, ServerSpec],
    tmp: Path,
    order: Sequence[Utterance],
    run: Run,
) -> dict[str, list[str]]:
    """Start both, warm both, measure; always stop both. Returns the exact command lines."""
    servers = {role: RunningServer(spec, tmp) for role, spec in specs.items()}
    commands: dict[str, list[str]] = {}
    try:
        started = await asyncio.gather(
            *(server.start() for server in servers.values()), return_exceptions=True
        )  # together: start-up is not measured, and it is the slowest part of --quick
        for error in started:
            if isinstance(error, BaseException):
                raise error
        for role, server in servers.items():
            commands[role] = [a.replace("{port}", str(server.port)) for a in server.spec.argv]
        warm = warm_audio()
        for server in servers.values():
            await warm_up(server, warm)
        await measure(servers, order, run)
    finally:
        for server in servers.values():
            server.stop()
    return commands


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cuda = args.device == "cuda"
    args.compute_type = args.compute_type or ("float16" if cuda else "int8")
    args.beam_size = args.beam_size or (5 if cuda else 1)
    mode = "quick" if args.quick else "full"
    models = bundled_models()
    models = ModelPaths(asr_model=args.asr_model or models.asr_model, voice=models.voice)
    ensure_peer_venv()

    folder, items = ensure_corpus()
    chosen = quick_items(items) if args.quick else list(items)
    if args.limit:
        chosen = chosen[: args.limit]
    utterances = build_corpus(folder, chosen) + extra_babble(folder, items, args.babble_seed)
    order = list(utterances)
    random.Random(args.seed).shuffle(order)
    run = Run(names=home_names())
    speech_s = sum(u.audio.seconds for u in utterances)
    print(
        f"{len(utterances)} utterances ({speech_s:.0f} s of audio each server), "
        f"{len(chosen)} corpus items from {folder.name}",
        flush=True,
    )

    tmp = Path(tempfile.mkdtemp(prefix="asr-side-by-side-"))
    specs = server_specs(args, models, tmp)
    limit = args.time_limit or TIME_LIMITS_S[mode]
    load_start, began = _load(), time.monotonic()
    started_at = datetime.now()
    commands = {role: list(spec.argv) for role, spec in specs.items()}
    note = ""
    try:
        commands = asyncio.run(asyncio.wait_for(run_servers(specs, tmp, order, run), timeout=limit))
    except TimeoutError:
        note = f"time limit of {limit:.0f} s reached: the figures are incomplete"
    except Exception as err:  # a server did not start: still report what there is
        note = f"run aborted: {err!r}"[:1500]
    elapsed = time.monotonic() - began

    versions_now = versions()
    command = shlex.join(
        ["python", "bench/asr_side_by_side.py", *(sys.argv[1:] if argv is None else argv)]
    )
    header = [
        f"# Speech-to-text side by side (issue 20): wyoming-rtx vs wyoming-faster-whisper "
        f"{PEER_PINS['wyoming-faster-whisper']}",
        "",
        f"- run: `{command}`, "
        f"{started_at:%Y-%m-%d %H:%M}, {elapsed:.0f} s; {os.cpu_count()} cores, {args.device}; "
        f"load (1/5 min) {load_start} at start, {_load()} at end",
        f"- ours ({versions_now['wyoming-rtx']}): `{shlex.join(commands[OURS])}`",
        f"- peer: `{shlex.join(commands[PEER])}`",
        f"- corpus: {len(chosen)} items of bench/turn_corpus.py ({folder.name}), each cut "
        f"{HA_VAD_WAIT_S} s after its end of speech, sent as made, as 8 kHz telephone audio and "
        f"as 44.1 kHz stereo; {sum(u.subset == NON_SPEECH for u in utterances)} non-speech "
        f"clips of {NON_SPEECH_SECONDS:.0f} s; one request at a time, real-time pace, "
        f"alternating which server goes first (order seed {args.seed})",
        f"- names: the {len(run.names)} area and device names of bench/turn_home.yaml",
    ]
    if note:
        header.append(f"- **{note}**")
    wer_rows = wer_table(run.records, run.names)
    latency_rows = latency_table(run.records)
    ns_rows = non_speech_table(run.records)
    worse = worse_items(run.records)
    markdown = render(header, wer_rows, latency_rows, ns_rows, worse)
    print()
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "asr_side_by_side.md").write_text(markdown + "\n")
    payload = {
        "header": header,
        "command": command,
        "server_commands": commands,
        "logs": str(tmp),
        "wer": wer_rows,
        "latency": latency_rows,
        "non_speech": ns_rows,
        "goals": [
            {"goal": g, "measured": m, "met": ok}
            for g, m, ok in goals(wer_rows, latency_rows, ns_rows)
        ],
        "worse": worse,
        "utterances": [
            {
                "name": u.name,
                "subset": u.subset,
                "item": u.item,
                "kind": u.kind,
                "reference": u.reference,
                "rate": u.audio.rate,
                "channels": u.audio.channels,
                "seconds": round(u.audio.seconds, 3),
            }
            for u in utterances
        ],
        "records": [asdict(r) for r in run.records],
    }
    (args.out / "asr_side_by_side.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nWritten to {args.out}/asr_side_by_side.{{md,json}}; server logs in {tmp}")
    complete = not note and all(r.finish_s is not None for r in run.records)
    return 0 if complete and run.records else 1


if __name__ == "__main__":
    sys.exit(main())
