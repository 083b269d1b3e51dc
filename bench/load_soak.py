"""Load and soak figures for issue 8: 50 concurrent clients, then 1,000 direct-satellite
pipeline turns with the server's resident memory every 100 turns.

Not a test: prints tables for the closing note. Each part starts its own real server
(`python -m wyoming_rtx`, demo home, no LLM), so either can run alone and neither's memory
is charged to the other. Run:

    .venv/bin/python bench/load_soak.py                       # load + 1,000-turn soak
    .venv/bin/python bench/load_soak.py --skip-load --turns 50 --block 10   # quick soak

Why the soak looks the way it does: a leak shows as memory (or threads, fds, sockets)
that keeps growing with turns once caches and arenas have warmed up, so the baseline is
taken after a warm-up block, not at start-up. Audio is sent in a burst (as a satellite
does after its VAD fires), not paced: this measures memory and stability, not latency.
Most turns share one long-lived satellite connection, as a real satellite does; every
`--reconnect-every`-th turn comes on a fresh connection, so connection set-up and
tear-down are soaked too. The commands cycle so the demo home's state returns to the same
place every cycle: the last command switches off what the others switched on, and the
home cannot drift (which would also change the answers and the memory the home holds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import psutil  # noqa: E402
from pipeline_helpers import FakeSatellite, TurnResult  # noqa: E402
from reliability.support import MB, SHORT_TEXT, RssSampler, open_peers  # noqa: E402
from server_proc import RunningServer, launch, stop  # noqa: E402
from wyoming_helpers import describe, normalize, read_wav, synthesize, transcribe  # noqa: E402

CLIENTS = 50
EXPECTED = "turn on the living room light"
CORPUS = REPO / "bench" / "corpus"
TRAILING_SILENCE_S = 0.3
"""A little silence after the speech, as a satellite's VAD leaves; enough for whisper's end."""
TURN_TIMEOUT_S = 60.0
GROWTH_GOAL_PCT = 5.0
SETTLE_S = 0.5
"""Pause before each RSS reading, so the last turn's trace and buffers are finished."""
IDLE_AFTER_ROUND_S = 4.0
"""Quiet time after a load round before its memory is read: the server's idle reclaimer
looks once a second and needs one quiet second to act."""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _log_check(server: RunningServer) -> str:
    """A clean run logs no traceback; count them (and ERROR lines) rather than trust exit 0."""
    log = server.log()
    return (
        f"server log: {log.count('Traceback')} Traceback(s), "
        f"{sum(' ERROR ' in line or 'ERROR:' in line for line in log.splitlines())} ERROR line(s)"
        f" ({server.log_path})"
    )


async def load(
    port: int, clients: int = CLIENTS
) -> tuple[dict[str, list[float]], list[str], float]:
    """Each client at once: describe, a short synthesis, a short transcription, in turn."""
    pcm, rate, width, channels = read_wav(REPO / "tests/data/living_room_light_en.wav")
    times: dict[str, list[float]] = {"describe": [], "synthesize": [], "transcribe": []}
    problems: list[str] = []

    async def client(n: int) -> None:
        try:
            started = time.monotonic()
            await describe(port, timeout=30)
            times["describe"].append(time.monotonic() - started)
            started = time.monotonic()
            speech = await synthesize(port, SHORT_TEXT)
            assert speech.pcm, "no audio"
            times["synthesize"].append(time.monotonic() - started)
            started = time.monotonic()
            result = await transcribe(port, pcm, rate, width, channels, chunk_seconds=0.2)
            assert normalize(result.text) == EXPECTED, result.text
            times["transcribe"].append(time.monotonic() - started)
        except Exception as err:  # reported in the table, not raised: a bench shows all
            problems.append(f"client {n}: {err!r}")

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return times, problems, time.monotonic() - started


SERVER_ARGS: list[str] = []
"""Extra arguments for the server under test (--server-arg)."""


async def run_load(rounds: int, clients: int = CLIENTS) -> None:
    """The 50-client figure on its own server; later rounds show what a burst leaves behind.

    After each round the server is left idle for `IDLE_AFTER_ROUND_S` and its resident
    memory read: what a burst leaves resident once it is over, not only its peak.
    """
    server = launch(Path(tempfile.mkdtemp(prefix="load-soak-")), *SERVER_ARGS)
    proc = psutil.Process(server.proc.pid)
    start_rss = proc.memory_info().rss
    rows: list[str] = []
    all_problems: list[str] = []
    try:
        for number in range(1, rounds + 1):
            with RssSampler(proc) as rss:
                times, problems, wall = await load(server.port, clients)
            await asyncio.sleep(IDLE_AFTER_ROUND_S)
            settled = proc.memory_info().rss
            all_problems.extend(problems)
            cells = " ".join(
                f"{statistics.median(times[op]):8.2f}s {_pct(times[op], 0.95):7.2f}s"
                if times[op]
                else f"{'-':>9} {'-':>8}"
                for op in ("describe", "synthesize", "transcribe")
            )
            rows.append(
                f"{number:>5} {cells} {wall:6.1f} {rss.peak / MB:7.0f} {settled / MB:8.0f} "
                f"{(settled - start_rss) / MB:+8.0f} {len(problems):>5}"
            )
    finally:
        code = stop(server)
    print(
        f"Load: {clients} concurrent clients, each describe + synthesis + transcription; "
        f"{rounds} round(s); RSS at Ready {start_rss / MB:.0f} MB"
    )
    print(
        f"{'round':>5} {'describe p50/p95':>18} {'synthesize p50/p95':>18} "
        f"{'transcribe p50/p95':>18} {'wall s':>6} {'peak MB':>7} {'idle MB':>8} "
        f"{'vs Ready':>8} {'fails':>5}"
    )
    for row in rows:
        print(row)
    if rounds > 1:
        print("rounds 2+: every client's short text is answered from the speech cache")
    print(
        f"idle MB: resident {IDLE_AFTER_ROUND_S:.0f} s after the round; "
        f"failures {len(all_problems)}; server exit code {code}"
    )
    print(_log_check(server))
    for problem in all_problems[:10]:
        print("  " + problem)


@dataclass(frozen=True)
class Command:
    """One local command: 16 kHz mono speech and the transcript it must give."""

    name: str
    pcm: bytes
    expected: str


def soak_commands() -> list[Command]:
    """On, on, all off, a question: after each cycle the demo home is back where it was.

    "Turn off all the lights downstairs" covers both lights the first two switch on (the
    kitchen and living room are on the ground floor); the temperature question changes
    nothing. The expected transcripts are the corpus's own texts, normalized."""
    texts = {
        entry["file"]: entry["text"]
        for entry in json.loads((CORPUS / "corpus.json").read_text())["entries"]
    }
    sources = [
        (REPO / "tests/data/living_room_light_en.wav", EXPECTED),
        (CORPUS / "kitchen_lights_on.wav", texts["kitchen_lights_on.wav"]),
        (CORPUS / "downstairs_off.wav", texts["downstairs_off.wav"]),
        (CORPUS / "bedroom_temperature.wav", texts["bedroom_temperature.wav"]),
    ]
    commands = []
    for path, text in sources:
        pcm, rate, width, channels = read_wav(path)
        if (rate, width, channels) != (16000, 2, 1):  # FakeSatellite speaks 16 kHz mono s16le
            raise ValueError(f"{path.name}: {rate} Hz x{width} x{channels}, need 16 kHz mono")
        commands.append(Command(path.stem, pcm, normalize(text)))
    return commands


def check_turn(result: TurnResult, command: Command) -> str:
    """The turn is right: the expected transcript, handled locally, answer audio arrived.

    Returns the answer text; raises AssertionError saying what was wrong."""
    transcripts = result.of("transcript")
    assert len(transcripts) == 1, f"{len(transcripts)} transcript events"
    heard = normalize(str(transcripts[0].data.get("text", "")))
    assert heard == command.expected, f"transcript {heard!r} != {command.expected!r}"
    handled = result.of("handled")
    assert len(handled) == 1 and not result.of("not-handled"), (
        f"handled {len(handled)}, not-handled {len(result.of('not-handled'))}"
    )
    assert len(result.of("audio-start")) == 1, f"{len(result.of('audio-start'))} audio-start"
    assert result.audio, "no answer audio"
    assert result.events[-1].type == "audio-stop", result.events[-1].type
    return str(handled[0].data.get("text", ""))


@dataclass
class Block:
    """One row of the soak table."""

    turns_done: int
    rss_mb: float
    peak_mb: float
    threads: int
    fds: int
    failures: int
    p50_s: float | None
    p95_s: float | None


@dataclass
class SoakState:
    """Everything the soak counts, so a crash of any one turn costs only that turn."""

    failures: list[str] = field(default_factory=list)
    answers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    fresh_turns: int = 0
    reconnects: int = 0


async def _one_turn(satellite: FakeSatellite, command: Command, state: SoakState) -> float:
    """Run and check one turn; returns seconds from run-pipeline to the answer's audio-stop."""
    started = time.monotonic()
    result = await asyncio.wait_for(satellite.turn(command.pcm, TRAILING_SILENCE_S), TURN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    state.answers[command.name].add(check_turn(result, command))
    return elapsed


async def soak(
    server: RunningServer, turns: int, block: int, reconnect_every: int
) -> tuple[list[Block], SoakState, float]:
    """`turns` direct-satellite turns; a table row after the warm-up block and each block."""
    proc = psutil.Process(server.proc.pid)
    commands = soak_commands()
    state = SoakState()
    rows: list[Block] = []
    persistent: FakeSatellite | None = None
    block_times: list[float] = []
    sampler = RssSampler(proc, interval=0.1).__enter__()
    started = time.monotonic()
    try:
        for i in range(turns):
            command = commands[i % len(commands)]
            fresh = reconnect_every > 0 and i % reconnect_every == reconnect_every - 1
            try:
                if fresh:
                    state.fresh_turns += 1
                    async with FakeSatellite(server.port, "soak-visitor", "Hallway") as visitor:
                        block_times.append(await _one_turn(visitor, command, state))
                else:
                    if persistent is None:
                        persistent = await FakeSatellite(
                            server.port, "soak-satellite", "Kitchen"
                        ).__aenter__()
                    block_times.append(await _one_turn(persistent, command, state))
            except Exception as err:  # counted, never raised: the soak reports every turn
                state.failures.append(f"turn {i + 1} ({command.name}, fresh={fresh}): {err!r}")
                if not fresh and persistent is not None:
                    # The connection may hold half a turn's events: start over on a new one.
                    await persistent.__aexit__(None, None, None)
                    persistent = None
                    state.reconnects += 1
                if server.proc.poll() is not None:
                    state.failures.append(f"server exited ({server.proc.returncode}); soak ends")
                    break
            if (i + 1) % block == 0 or i + 1 == turns:
                await asyncio.sleep(SETTLE_S)
                sampler.__exit__(None, None, None)
                rows.append(
                    Block(
                        turns_done=i + 1,
                        rss_mb=proc.memory_info().rss / MB,
                        peak_mb=sampler.peak / MB,
                        threads=proc.num_threads(),
                        fds=proc.num_fds(),
                        failures=len(state.failures),
                        p50_s=statistics.median(block_times) if block_times else None,
                        p95_s=_pct(block_times, 0.95) if block_times else None,
                    )
                )
                block_times = []
                sampler = RssSampler(proc, interval=0.1).__enter__()
    finally:
        with contextlib.suppress(Exception):
            sampler.__exit__(None, None, None)
        if persistent is not None:
            await persistent.__aexit__(None, None, None)
    return rows, state, time.monotonic() - started


def _fmt(value: float | None) -> str:
    return f"{value:7.2f}" if value is not None else f"{'-':>7}"


async def run_soak(turns: int, block: int, reconnect_every: int) -> None:
    """The soak on its own server, then its table, the growth verdict and the log check."""
    server = launch(Path(tempfile.mkdtemp(prefix="load-soak-")), *SERVER_ARGS)
    proc = psutil.Process(server.proc.pid)
    start_rss = proc.memory_info().rss / MB
    try:
        rows, state, wall = await soak(server, turns, block, reconnect_every)
        await asyncio.sleep(SETTLE_S)
        left_open = len(open_peers(proc)) if server.proc.poll() is None else -1
    finally:
        code = stop(server)
    print(
        f"\nSoak: {turns} direct-satellite turns (info, run-pipeline asr->tts, audio in a burst "
        f"+ {TRAILING_SILENCE_S} s silence, audio-stop; transcript, handled, answer audio, "
        f"played); commands cycle {', '.join(c.name for c in soak_commands())}; "
        f"1 turn in {reconnect_every} on a fresh connection"
    )
    print(
        f"server RSS at Ready {start_rss:.0f} MB; turn s = run-pipeline sent -> answer audio-stop"
    )
    print(
        f"{'turns':>6} {'RSS MB':>8} {'growth %':>9} {'peak MB':>8} {'threads':>8} {'fds':>5} "
        f"{'failures':>9} {'p50 s':>7} {'p95 s':>7}"
    )
    base = rows[0].rss_mb if rows else 0.0
    for row in rows:
        growth = (row.rss_mb - base) / base * 100 if base else 0.0
        print(
            f"{row.turns_done:>6} {row.rss_mb:8.1f} {growth:+9.2f} {row.peak_mb:8.1f} "
            f"{row.threads:>8} {row.fds:>5} {row.failures:>9} {_fmt(row.p50_s)} {_fmt(row.p95_s)}"
        )
    if len(rows) >= 2:
        growth = (rows[-1].rss_mb - base) / base * 100
        verdict = "under" if growth < GROWTH_GOAL_PCT else "NOT under"
        print(
            f"RSS growth after warm-up ({rows[0].turns_done} turns, {base:.1f} MB) to "
            f"{rows[-1].turns_done} turns ({rows[-1].rss_mb:.1f} MB): {growth:+.2f}% "
            f"({verdict} the {GROWTH_GOAL_PCT:.0f}% goal); max after warm-up "
            f"{max(r.rss_mb for r in rows[1:]):.1f} MB"
        )
    else:
        print("RSS growth after warm-up: not measured (fewer than two blocks)")
    if len(rows) >= 3:
        # One reading is noisy (the allocator returns arenas in lumps): the trend says more.
        slope = statistics.linear_regression(
            [r.turns_done for r in rows], [r.rss_mb for r in rows]
        ).slope
        print(f"RSS trend from warm-up on (least squares): {slope * 1000:+.1f} MB per 1,000 turns")
    print(
        f"turns on fresh connections {state.fresh_turns}; reconnects after a failure "
        f"{state.reconnects}; failures {len(state.failures)}; wall {wall:.0f} s "
        f"({wall / max(1, turns):.2f} s/turn)"
    )
    for name, answers in state.answers.items():
        print(f"  answers to {name}: {sorted(answers)}")
    print(f"server TCP connections still open after the satellites left: {left_open}")
    print(f"server exit code {code}; {_log_check(server)}")
    for failure in state.failures[:20]:
        print("  " + failure)
    if len(state.failures) > 20:
        print(f"  ... and {len(state.failures) - 20} more")


def main() -> None:
    """Both parts by default; --skip-load or --turns 0 runs one alone."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000, help="soak turns (0: no soak)")
    parser.add_argument("--skip-load", action="store_true", help="skip the 50-client load")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent load clients")
    parser.add_argument(
        "--rounds", type=int, default=1, help="load rounds on one server (memory after each)"
    )
    parser.add_argument(
        "--block", type=int, default=100, help="turns per table row; the first is the warm-up"
    )
    parser.add_argument(
        "--reconnect-every", type=int, default=10, help="every Nth turn on a fresh connection"
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra server argument, repeatable (e.g. --server-arg=--release-memory)",
    )
    args = parser.parse_args()
    SERVER_ARGS.extend(args.server_arg)
    started = time.monotonic()
    if not args.skip_load:
        asyncio.run(run_load(max(1, args.rounds), max(1, args.clients)))
    if args.turns > 0:
        asyncio.run(run_soak(args.turns, max(1, args.block), args.reconnect_every))
    print(f"\ntotal runtime {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
