"""ASR measurements: finish time after audio-stop, WER, and the concurrency sweep.

The clock that matters for a voice assistant is ``audio-stop`` -> ``transcript``: everything before
it is the user still talking (or HA's VAD waiting out the trailing silence). Audio goes out in 10 ms
chunks either at real-time pace (what HA does with a live microphone: this is where decoding during
the silence can help) or in a burst (a recorded file: the server's raw decode speed).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.client import HA_TRAILING_SILENCE_S, AsrResult, Audio, transcribe
from bench.figures import ROLES, Figure, Target, interleaved, summary_figure
from bench.wer import corpus_wer

MODES = {"realtime": f"real-time pace + {HA_TRAILING_SILENCE_S} s silence", "burst": "burst"}
"""Mode id (in figure ids) -> words (in the report)."""
REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT / "bench" / "corpus"
TEST_DATA_DIR = REPO_ROOT / "tests" / "data"
TEST_FILES = ("living_room_light_en.wav", "turn_on_the_living_room_lamp.wav")
"""Real recordings (16 kHz mono, and 44.1 kHz stereo sent as-is: the server must convert)."""


@dataclass(frozen=True)
class Sample:
    """One utterance with what was said."""

    audio: Audio
    reference: str
    kind: str
    """"command" (1-5 s) or "passage" (>= 10 s)."""

    @property
    def name(self) -> str:
        """File stem, for logs."""
        return self.audio.name


@dataclass(frozen=True)
class AsrPlan:
    """How much to measure; --quick shrinks every count, never the kinds of measurement."""

    realtime_files: int | None
    """None = every sample in the real-time pass; a number = that many commands only."""
    realtime_repeats: int
    burst_repeats: int
    levels: tuple[int, ...]
    rounds: int
    min_requests: int = 8
    """Per level at least this many requests (more rounds at low concurrency), so a 1-client
    median is not taken over two samples."""


@dataclass(frozen=True)
class RoundResult:
    """One round of concurrent clients against one server."""

    ok: list[AsrResult]
    failed: int
    wall_s: float


def load_samples() -> list[Sample]:
    """The committed piper corpus plus the two English recordings from tests/data."""
    corpus = json.loads((CORPUS_DIR / "corpus.json").read_text())
    samples = [
        Sample(Audio.from_wav(CORPUS_DIR / e["file"]), e["text"], e["kind"])
        for e in corpus["entries"]
        if e["kind"] in ("command", "passage")
    ]
    manifest = {e["file"]: e for e in json.loads((TEST_DATA_DIR / "manifest.json").read_text())}
    for file_name in TEST_FILES:
        entry = manifest[file_name]
        samples.append(Sample(Audio.from_wav(TEST_DATA_DIR / file_name), entry["text"], "command"))
    return samples


async def _one(target: Target, sample: Sample, realtime: bool) -> AsrResult:
    return await transcribe(target.host, target.port, sample.audio, realtime=realtime)


async def corpus_pass(
    targets: Sequence[Target], samples: Sequence[Sample], *, mode: str, repeats: int
) -> list[Figure]:
    """One client at a time over ``samples``: finish time per kind, and WER."""
    realtime = mode == "realtime"
    tag = mode
    items = [s for _ in range(repeats) for s in samples]

    async def run(target: Target, sample: Sample) -> AsrResult:
        return await _one(target, sample, realtime)

    results, failures = await interleaved(targets, items, run)
    group = f"ASR, 1 client, {MODES[mode]}"
    figures: list[Figure] = []
    for kind, what in (("command", "commands 1-5 s"), ("passage", "passage >= 10 s")):
        finish = {
            role: [r.finish_s for s, r in results[role] if s.kind == kind] for role in results
        }
        if not any(finish.values()):
            continue
        figures.append(
            summary_figure(f"asr.{tag}.c1.{kind}.median", group,
                           f"audio-stop -> transcript, {what}, median", finish, "median",
                           failures=failures)
        )  # fmt: skip
        if kind == "command":
            figures.append(
                summary_figure(f"asr.{tag}.c1.{kind}.p95", group,
                               f"audio-stop -> transcript, {what}, p95", finish, "p95")
            )  # fmt: skip
    wer_values: dict[str, float | None] = {}
    for role in ROLES:
        pairs = [(s.reference, r.text) for s, r in results.get(role, [])]
        wer_values[role] = 100 * corpus_wer(pairs) if pairs else None
    figures.append(
        Figure(id=f"asr.{tag}.wer", group=group, label=f"word error rate, {len(samples)} files",
               unit="%", values=wer_values,
               samples={role: [r.text for _, r in results[role]] for role in results},
               failures=failures)
    )  # fmt: skip
    return figures


async def concurrency_sweep(
    targets: Sequence[Target],
    commands: Sequence[Sample],
    *,
    mode: str,
    levels: Sequence[int],
    rounds: int,
) -> list[Figure]:
    """``level`` clients at once, each a different command, started together; per level the
    median and p95 finish time and the throughput (requests completed per wall second)."""
    realtime = mode == "realtime"
    tag = mode
    figures: list[Figure] = []
    for level in levels:
        round_items = list(range(rounds))

        async def run(target: Target, round_index: int, level: int = level) -> RoundResult:
            batch = [commands[(round_index * level + k) % len(commands)] for k in range(level)]
            began = time.perf_counter()
            got = await asyncio.gather(
                *(_one(target, s, realtime) for s in batch), return_exceptions=True
            )
            wall = time.perf_counter() - began
            ok = [g for g in got if isinstance(g, AsrResult)]
            return RoundResult(ok, len(got) - len(ok), wall)

        results, failures = await interleaved(targets, round_items, run)
        finish: dict[str, list[float]] = {}
        throughput: dict[str, float | None] = {}
        for role, rows in results.items():
            finish[role] = [r.finish_s for _, rnd in rows for r in rnd.ok]
            failures[role] += sum(rnd.failed for _, rnd in rows)
            wall = sum(rnd.wall_s for _, rnd in rows)
            done = sum(len(rnd.ok) for _, rnd in rows)
            throughput[role] = done / wall if wall > 0 else None
        group = f"ASR, concurrent clients, {MODES[mode]}"
        figures += [
            summary_figure(f"asr.{tag}.c{level}.median", group,
                           f"{level} clients: audio-stop -> transcript, median", finish, "median",
                           failures=failures),
            summary_figure(f"asr.{tag}.c{level}.p95", group,
                           f"{level} clients: audio-stop -> transcript, p95", finish, "p95"),
            Figure(id=f"asr.{tag}.c{level}.throughput", group=group,
                   label=f"{level} clients: throughput", unit="req/s", values=throughput,
                   higher_is_better=True),
        ]  # fmt: skip
    return figures


async def run_asr(targets: Sequence[Target], plan: AsrPlan, out: list[Figure]) -> None:
    """Every ASR measurement, real-time pace first (the case that matters), then burst;
    figures are appended to ``out`` as each part finishes (a time limit keeps what is done)."""
    samples = load_samples()
    commands = [s for s in samples if s.kind == "command"]
    realtime_samples = samples if plan.realtime_files is None else commands[: plan.realtime_files]
    out += await corpus_pass(
        targets, realtime_samples, mode="realtime", repeats=plan.realtime_repeats
    )
    out += await corpus_pass(targets, samples, mode="burst", repeats=plan.burst_repeats)
    for mode in MODES:
        for level in plan.levels:
            rounds = max(plan.rounds, math.ceil(plan.min_requests / level))
            out += await concurrency_sweep(
                targets, commands, mode=mode, levels=(level,), rounds=rounds
            )
