"""The one benchmark command: peers + wyoming-rtx on the same models, every measurement, a report.

    python bench/run.py [--quick] [--device cuda --asr-model PATH --voice PATH]

Sets up ``bench/.peer-venv`` if needed, starts every server on a free 127.0.0.1 port, warms each
one up, measures ASR, TTS, the direct-satellite turn (when our server has it) and peak memory,
stops everything it started (also on errors and on the overall time limit), and writes
``bench/results/<timestamp>/{report.md,results.json,chart.png}``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.asr_bench import AsrPlan, load_samples, run_asr  # noqa: E402
from bench.client import synthesize, transcribe  # noqa: E402
from bench.fake_ollama import FakeOllama  # noqa: E402
from bench.figures import OURS, PEER, Figure, Target  # noqa: E402
from bench.peers import (  # noqa: E402
    PEER_PINS,
    ModelPaths,
    bundled_models,
    ensure_peer_venv,
    piper_spec,
    whisper_spec,
)
from bench.report import machine_details, write_results  # noqa: E402
from bench.servers import RunningServer, ServerSpec  # noqa: E402
from bench.tts_bench import TtsPlan, run_tts  # noqa: E402
from bench.turn import run_turn  # noqa: E402

_LOGGER = logging.getLogger("bench")

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
PLANS = {
    "quick": (AsrPlan(realtime_files=3, realtime_repeats=1, burst_repeats=1,
                      levels=(1, 4), rounds=1, min_requests=2),
              TtsPlan(repeats=2, rounds=1)),
    "full": (AsrPlan(realtime_files=None, realtime_repeats=2, burst_repeats=2,
                     levels=(1, 2, 4, 8), rounds=2),
             TtsPlan(repeats=4, rounds=2)),
}  # fmt: skip
TIME_LIMITS_S = {"quick": 600.0, "full": 1800.0}
"""Hard bounds; on this shared 2-core machine quick takes ~3-7 min and full ~10-15 min."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line; defaults are the bundled CPU models (tiny.en int8 greedy, joe-medium)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small counts: a few minutes")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--asr-model", type=Path, help="CTranslate2 whisper folder (default tiny.en)")
    p.add_argument("--voice", type=Path, help="piper .onnx with .onnx.json (default joe-medium)")
    p.add_argument(
        "--tts-cuda",
        action="store_true",
        help="peer piper with --use-cuda (needs onnxruntime-gpu in the peer venv); "
        "give ours its own flag with --ours-arg",
    )
    p.add_argument("--compute-type", help="default int8 on cpu, float16 on cuda")
    p.add_argument("--beam-size", type=int, help="default 1 on cpu, 5 on cuda (same for all)")
    p.add_argument(
        "--cpu-threads",
        type=int,
        help="ASR CPU threads for ours and the peer (default: each its own)",
    )
    p.add_argument("--out", type=Path, help="results folder (default bench/results/<timestamp>)")
    p.add_argument(
        "--time-limit", type=float, help="overall seconds (default 600 quick, 1500 full)"
    )
    p.add_argument(
        "--ours-python",
        type=Path,
        default=_default_python(),
        help="interpreter that has wyoming_rtx (default .venv/bin/python)",
    )
    p.add_argument(
        "--ours-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for our server, repeatable (e.g. --ours-arg=--no-speculative)",
    )
    p.add_argument("--debug", action="store_true")
    return p.parse_args(argv)  # fmt: skip


def _default_python() -> Path:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def ours_help(python: Path) -> str:
    """Our server's --help ("" when it cannot run): optional flags are passed only if listed."""
    try:
        return subprocess.run(
            [str(python), "-m", "wyoming_rtx", "--help"],
            capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""


def ours_spec(args: argparse.Namespace, models: ModelPaths, ollama_url: str | None) -> ServerSpec:
    """wyoming-rtx on the same files and decoding settings as the peers; zeroconf off; the LLM
    is the fixed-rate fake Ollama when given."""
    llm = ("--ollama-url", ollama_url, "--llm-model", "bench") if ollama_url else ()
    threads = ("--cpu-threads", str(args.cpu_threads)) if args.cpu_threads else ()
    return ServerSpec(
        name="wyoming-rtx",
        argv=(
            str(args.ours_python), "-m", "wyoming_rtx",
            "--uri", "tcp://127.0.0.1:{port}",
            "--no-zeroconf",
            "--asr-model", str(models.asr_model),
            "--voice", str(models.voice),
            "--device", args.device,
            "--compute-type", args.compute_type,
            "--beam-size", str(args.beam_size),
            "--language", "en",
            # The TTS figures repeat each text: a cache would win by remembering, not by
            # rendering, and the peers have none. Measure rendering.
            "--tts-cache-mb", "0",
            *llm,
            *threads,
            *args.ours_arg,
        ),
        env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def versions() -> dict[str, str]:
    """Versions that decide the figures: ours (with git commit), the engines as installed in
    this interpreter's venv (run.py runs in the project venv), and the pinned peers."""
    out: dict[str, str] = {}
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        sha = "?"
    for name in ("wyoming-rtx", "faster-whisper", "ctranslate2", "piper-tts", "onnxruntime",
                 "wyoming"):  # fmt: skip
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["wyoming-rtx"] += f" (git {sha})"
    out.update(PEER_PINS)
    return out


async def warm_up(server: RunningServer, asr: bool, tts: bool) -> None:
    """One untimed transcription and synthesis: both sides load lazily on the first request."""
    target = server.host, server.port
    if asr:
        sample = load_samples()[0]
        await transcribe(*target, sample.audio, realtime=False, timeout=300)
    if tts:
        await synthesize(*target, "Warming up.", streaming=False, timeout=300)


def target(server: RunningServer, role: str) -> Target:
    """The measurement view of a started server."""
    return Target(role=role, name=server.spec.name, host=server.host, port=server.port,
                  info=server.info or {})  # fmt: skip


def memory_figures(
    ours: RunningServer | None, whisper: RunningServer, piper: RunningServer
) -> list[Figure]:
    """Peak RSS: our single process against each peer and against both peers together."""
    mb = 2**20
    our = ours.peak_rss_bytes / mb if ours else None
    rows = (
        ("mem.asr", f"peak RSS vs {whisper.spec.name}", whisper.peak_rss_bytes / mb),
        ("mem.tts", f"peak RSS vs {piper.spec.name}", piper.peak_rss_bytes / mb),
        ("mem.all", "peak RSS vs both peers together",
         (whisper.peak_rss_bytes + piper.peak_rss_bytes) / mb),
    )  # fmt: skip
    return [
        Figure(id=fid, group="Memory, process tree", label=label, unit="MB",
               values={OURS: our, PEER: peer},
               note="ours is one process serving ASR and TTS; each peer serves one")
        for fid, label, peer in rows
    ]  # fmt: skip


async def measure(
    args: argparse.Namespace, out_dir: Path, figures: list[Figure], notes: list[str]
) -> None:
    """Start everything, measure into ``figures``, and always stop what was started.

    Figures are appended as each part finishes, so a run cut off by the time limit still
    reports what it measured.
    """
    models = ModelPaths(
        asr_model=args.asr_model or bundled_models().asr_model,
        voice=args.voice or bundled_models().voice,
    )
    asr_plan, tts_plan = PLANS["quick" if args.quick else "full"]
    data_dir = Path(tempfile.mkdtemp(prefix="peer-whisper-", dir=out_dir))
    whisper = RunningServer(whisper_spec(models, data_dir, device=args.device,
                                         compute_type=args.compute_type,
                                         beam_size=args.beam_size,
                                         cpu_threads=args.cpu_threads), out_dir)  # fmt: skip
    piper = RunningServer(piper_spec(models, use_cuda=args.tts_cuda), out_dir)
    fake: FakeOllama | None = None
    ours: RunningServer | None = None
    started: list[RunningServer] = []
    try:
        if "--ollama-url" in ours_help(args.ours_python):
            fake = FakeOllama()
            fake.start()
        ours = RunningServer(ours_spec(args, models, fake.url if fake else None), out_dir)
        started.append(ours)
        try:
            await ours.start()
            await warm_up(ours, asr=True, tts=True)
        except Exception as err:  # noqa: BLE001 - the peers are still measured and reported
            notes.append(f"wyoming-rtx could not be measured: {err!r}"[:2000])
            _LOGGER.error("wyoming-rtx did not start: %s", err)
            ours.stop()
            started.remove(ours)
            ours = None
        for server, asr, tts in ((whisper, True, False), (piper, False, True)):
            started.append(server)
            await server.start()
            await warm_up(server, asr=asr, tts=tts)
        ours_target = [target(ours, OURS)] if ours else []
        _LOGGER.info("Measuring ASR")
        await run_asr([*ours_target, target(whisper, PEER)], asr_plan, figures)
        _LOGGER.info("Measuring TTS")
        await run_tts([*ours_target, target(piper, PEER)], tts_plan, figures)
        _LOGGER.info("Measuring the direct-satellite turn")
        figures.extend(await run_turn(ours_target, notes, quick=args.quick, fake=fake))
    finally:
        figures.extend(memory_figures(ours, whisper, piper))
        for server in started:
            server.stop()
        if fake is not None:
            fake.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 only when every server was measured."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    cuda = args.device == "cuda"
    args.compute_type = args.compute_type or ("float16" if cuda else "int8")
    args.beam_size = args.beam_size or (5 if cuda else 1)
    mode = "quick" if args.quick else "full"
    started_at = datetime.now()
    out_dir = args.out or RESULTS_DIR / started_at.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_peer_venv()
    notes: list[str] = []
    load_start = os.getloadavg()[0]
    began = time.perf_counter()
    limit = args.time_limit or TIME_LIMITS_S[mode]
    figures: list[Figure] = []
    status = 0
    try:
        asyncio.run(asyncio.wait_for(measure(args, out_dir, figures, notes), timeout=limit))
    except TimeoutError:
        status = 2
        notes.append(f"time limit of {limit:.0f} s reached: the figures are incomplete")
        _LOGGER.error("Time limit of %.0f s reached; every server was stopped", limit)
    except Exception as err:  # a peer failed to start: still write what there is
        status = 1
        notes.append(f"run aborted: {err!r}"[:2000])
        _LOGGER.exception("Run aborted; every server was stopped")
    models = bundled_models()
    meta = {
        "started": started_at.isoformat(timespec="seconds"),
        "command": " ".join(
            ["python bench/run.py", shlex.join(sys.argv[1:] if argv is None else argv)]
        ).strip(),
        "quick": args.quick,
        "device": args.device,
        "asr_model": str(args.asr_model or models.asr_model),
        "voice": str(args.voice or models.voice),
        "beam_size": args.beam_size,
        "compute_type": args.compute_type,
        "machine": machine_details(args.device),
        "versions": versions(),
        "peer_names": {
            "ASR": "wyoming-faster-whisper",
            "TTS": "wyoming-piper",
            "Memory": "wyoming-faster-whisper / wyoming-piper",
            "Turn": "none (ours only)",
        },  # fmt: skip
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "duration_s": time.perf_counter() - began,
    }
    markdown = write_results(out_dir, meta, figures, notes)
    print(markdown)
    print(f"\nWritten to {out_dir}")
    if status:
        return status
    return 0 if not any("could not be measured" in n for n in notes) else 1


if __name__ == "__main__":
    sys.exit(main())
