"""Issue 8's bad inputs against our server and the official peers, side by side.

Not a test: it prints a table for the closing note. The issue lists what the official
servers do with each case (read a 1 GB claim, wait forever on 1e400, die on rate 0, stop
answering describe during a long synthesis); this measures ours and theirs in one run, on
the same model files, so the claim "better on every point" rests on figures.

Each server runs alone. For every case it applies to (frames: all; audio: the ASR servers;
text: the TTS servers) the table gives what the client saw, how many body bytes of a lying
frame got through before the server closed or stopped reading (loopback socket buffers
absorb a few MB of them without the server reading anything), its memory growth (peak
minus before, sampled every 20 ms), the slowest of Home Assistant-style describes probed on
fresh connections every 0.2 s during the case, how long the CPU stayed busy after the
client hung up, and whether it still answered a describe afterwards (a server that died
is restarted for the next case). Run:

    .venv/bin/python bench/bad_input_peers.py            # every server, every case
    .venv/bin/python bench/bad_input_peers.py --ours     # ours only (no peer venv needed)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from reliability.support import (  # noqa: E402
    LONG_TEXT,
    DescribeProbe,
    RssSampler,
    describe_once,
    wait_idle,
)
from wyoming.audio import AudioChunk, AudioStop  # noqa: E402
from wyoming.event import Event, async_read_event, async_write_event  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from bench.bad_input_memory import pipeline_unread  # noqa: E402
from bench.peers import (  # noqa: E402
    bundled_models,
    ensure_peer_venv,
    piper_spec,
    whisper_spec,
)
from bench.servers import RunningServer, ServerSpec  # noqa: E402

FRAMES, AUDIO, TEXT = "frames", "audio", "text"
LIE_BYTES = 128 * 1024 * 1024
"""Body bytes offered after a lying header; a server that reads them all buffers them."""
ANSWER_TIMEOUT_S = 120.0
"""How long a client waits for an answer before calling it a hang."""
IDLE_CPU = 0.1
"""A server under a tenth of a core is idle again."""


@dataclass
class Outcome:
    """What one case did to one server."""

    answer: str
    sent_mb: float | None = None
    """Body bytes of a lying frame that got through before the server stopped them."""
    busy_after_s: float | None = None
    """Seconds the server's CPU stayed busy after the client hung up."""


async def _reply(reader: asyncio.StreamReader, timeout: float, *final: str) -> str:
    """The server's answer: the first event whose type is in `final` (any event when none
    is given), an error with its code, or how the connection ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = await asyncio.wait_for(async_read_event(reader), deadline - time.monotonic())
        except TimeoutError:
            return f"no answer in {timeout:.0f} s"
        except (ConnectionError, ValueError, json.JSONDecodeError) as err:
            return type(err).__name__
        if event is None:
            return "closed, no event"
        if event.type == "error":
            return f"error {(event.data or {}).get('code') or ''}".strip()
        if not final or event.type in final:
            return event.type


async def _lying_frame(port: int, header: bytes) -> Outcome:
    """Send a header that lies about its length, then offer `LIE_BYTES` of body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        writer.write(header)
        block = b"\0" * 65536
        try:
            while sent < LIE_BYTES:
                writer.write(block)
                await asyncio.wait_for(writer.drain(), 2)
                sent += len(block)
        except (ConnectionError, TimeoutError):
            pass
        # What the transport still holds never reached the socket.
        unsent = writer.transport.get_write_buffer_size()
        answer = await _reply(reader, 10)
        return Outcome(answer, sent_mb=max(0, sent - unsent) / 1e6)
    finally:
        writer.transport.abort()


async def _audio(port: int, rate: int, width: int, channels: int, seconds: float) -> Outcome:
    """One transcription of `seconds` of noise in this format, sent in 0.5 s chunks."""
    rng = np.random.default_rng(0)
    frames = max(1, int(rate / 2)) * channels
    noise = (rng.standard_normal(frames * width) * 60).astype(np.int8).tobytes()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        fmt = {"rate": rate, "width": width, "channels": channels}
        await async_write_event(Event(type="transcribe", data={"language": "en"}), writer)
        await async_write_event(Event(type="audio-start", data=fmt), writer)
        try:
            for _ in range(int(seconds * 2)):
                await async_write_event(
                    AudioChunk(rate=rate, width=width, channels=channels, audio=noise).event(),
                    writer,
                )
            await async_write_event(AudioStop().event(), writer)
        except ConnectionError as err:
            return Outcome(f"{type(err).__name__} while sending")
        return Outcome(await _reply(reader, ANSWER_TIMEOUT_S, "transcript"))
    finally:
        writer.transport.abort()


async def _synthesize(port: int, text: str, read_s: float, proc: psutil.Process) -> Outcome:
    """Ask for `text`, read for `read_s`, hang up, and time the CPU until it is idle again."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks, answer = 0, ""
    try:
        await async_write_event(Synthesize(text=text).event(), writer)
        deadline = time.monotonic() + read_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(async_read_event(reader), left)
            except TimeoutError:
                break
            if event is None:
                answer = "closed"
                break
            chunks += event.type == "audio-chunk"
            if event.type in ("audio-stop", "error"):
                answer = event.type
                break
    finally:
        writer.transport.abort()
    if answer == "audio-stop":
        return Outcome(f"{chunks} chunks, audio-stop")
    if answer:
        return Outcome(answer)
    hung_up = f"{chunks} chunks in {read_s:.0f} s, hung up"
    return Outcome(hung_up, busy_after_s=await _seconds_until_idle(proc))


async def _seconds_until_idle(proc: psutil.Process, limit: float = 60.0) -> float:
    """Seconds until the process uses under `IDLE_CPU` of a core (over 0.25 s windows)."""
    started = time.monotonic()
    try:
        await wait_idle(proc, threshold=IDLE_CPU, window=0.25, timeout=limit)
    except AssertionError:  # still busy at the limit
        return limit
    return time.monotonic() - started


async def _non_reader(port: int) -> Outcome:
    return Outcome(f"{await pipeline_unread(port)} requests accepted")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    run: Callable[[int, psutil.Process], Awaitable[Outcome]]


CASES = [
    Case(
        "1 GB payload claim",
        FRAMES,
        lambda p, _: _lying_frame(p, b'{"type":"audio-chunk","payload_length":1000000000}\n'),
    ),
    Case(
        "100 MB data block claim",
        FRAMES,
        lambda p, _: _lying_frame(p, b'{"type":"describe","data_length":100000000}\n'),
    ),
    Case(
        "payload_length 1e400",
        FRAMES,
        lambda p, _: _lying_frame(p, b'{"type":"audio-chunk","payload_length":1e400}\n'),
    ),
    Case("300 s audio, one request", AUDIO, lambda p, _: _audio(p, 16000, 2, 1, 300)),
    Case("rate 0", AUDIO, lambda p, _: _audio(p, 0, 2, 1, 1)),
    Case("width 3 (24-bit), 5 s", AUDIO, lambda p, _: _audio(p, 16000, 3, 1, 5)),
    Case("8 channels 48 kHz, 30 s", AUDIO, lambda p, _: _audio(p, 48000, 2, 8, 30)),
    Case("192 kHz, 5 s", AUDIO, lambda p, _: _audio(p, 192000, 2, 1, 5)),
    Case("empty text", TEXT, lambda p, proc: _synthesize(p, "", 10, proc)),
    Case(
        "20,000-char text, read 5 s",
        TEXT,
        lambda p, proc: _synthesize(p, LONG_TEXT, 5, proc),
    ),
    Case("non-reading client", TEXT, lambda p, _: _non_reader(p)),
]


@dataclass
class Row:
    case: str
    server: str
    outcome: Outcome
    growth_mb: float
    describe_max_s: float | None
    describe_failures: list[str]
    serving_after: str


async def _run_case(server: RunningServer, case: Case) -> Row:
    proc = psutil.Process(server.pid)
    probe = DescribeProbe(server.port)
    with RssSampler(proc) as rss:
        outcome = await probe.around(case.run(server.port, proc))
        await asyncio.sleep(1)
    if server.alive():
        try:
            after = f"yes ({await asyncio.to_thread(describe_once, server.port, 5.0):.2f} s)"
        except (OSError, AssertionError, ValueError) as err:
            after = f"NO describe: {type(err).__name__}"
    else:
        after = "DIED"
    latencies = probe.latencies
    return Row(
        case.name,
        server.spec.name,
        outcome,
        rss.growth_mb,
        max(latencies) if latencies else None,
        probe.failures,
        after,
    )


async def _start_warm(spec: ServerSpec, kinds: set[str], log_dir: Path) -> RunningServer:
    """Start a server and give it the largest ordinary requests first (a 30 s utterance, a
    160-character sentence), so each case is charged only for what the bad input adds."""
    server = RunningServer(spec, log_dir)
    await server.start()
    proc = psutil.Process(server.pid)
    if AUDIO in kinds:
        outcome = await _audio(server.port, 16000, 2, 1, 30)
        logging.info("%s warm-up transcription: %s", spec.name, outcome.answer)
    if TEXT in kinds:
        outcome = await _synthesize(server.port, LONG_TEXT[:160], 30, proc)
        logging.info("%s warm-up synthesis: %s", spec.name, outcome.answer)
    await _seconds_until_idle(proc)
    await asyncio.sleep(2)
    logging.info("%s warm: RSS %.0f MB", spec.name, proc.memory_info().rss / 1e6)
    return server


async def _serve(spec: ServerSpec, kinds: set[str], log_dir: Path) -> list[Row]:
    rows: list[Row] = []
    server = await _start_warm(spec, kinds, log_dir)
    try:
        for case in CASES:
            if case.kind not in kinds:
                continue
            logging.info("%s: %s", spec.name, case.name)
            row = await _run_case(server, case)
            rows.append(row)
            if row.serving_after == "DIED" or row.serving_after.startswith("NO"):
                server.stop()
                server = await _start_warm(spec, kinds, log_dir)
            await asyncio.sleep(1)
    finally:
        server.stop()
    return rows


def _print(rows: list[Row]) -> None:
    head = (
        f"{'case':<28} {'server':<23} {'answer':<34} {'sent MB':>8} {'growth MB':>9} "
        f"{'describe max':>12} {'busy after':>10}  serving after"
    )
    print(head)
    print("-" * len(head))
    last = ""
    for row in rows:
        out = row.outcome
        sent = f"{out.sent_mb:.1f}" if out.sent_mb is not None else ""
        describe = f"{row.describe_max_s:.2f} s" if row.describe_max_s is not None else "none"
        if row.describe_failures:
            describe += f" +{len(row.describe_failures)} fail"
        busy = f"{out.busy_after_s:.1f} s" if out.busy_after_s is not None else ""
        name = row.case if row.case != last else ""
        last = row.case
        print(
            f"{name:<28} {row.server:<23} {out.answer[:34]:<34} {sent:>8} "
            f"{row.growth_mb:9.1f} {describe:>12} {busy:>10}  {row.serving_after}"
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", action="store_true", help="only our server")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    models = bundled_models()
    log_dir = Path(tempfile.mkdtemp(prefix="bad-input-peers-"))
    # Not bench.run.ours_spec: that turns the speech cache off to compare rendering; here
    # the server runs as users run it, on the peers' decoding settings.
    ours = ServerSpec(
        name="wyoming-rtx",
        argv=(
            str(REPO / ".venv" / "bin" / "python"), "-m", "wyoming_rtx",
            "--uri", "tcp://127.0.0.1:{port}", "--no-zeroconf",
            "--asr-model", str(models.asr_model), "--voice", str(models.voice),
            "--device", "cpu", "--compute-type", "int8", "--beam-size", "1",
        ),
        env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    plan: list[tuple[ServerSpec, set[str]]] = [(ours, {FRAMES, AUDIO, TEXT})]
    if not args.ours:
        ensure_peer_venv()
        whisper = whisper_spec(
            models, log_dir / "whisper-data", device="cpu", compute_type="int8", beam_size=1
        )
        plan += [(whisper, {FRAMES, AUDIO}), (piper_spec(models, use_cuda=False), {FRAMES, TEXT})]
    rows: list[Row] = []
    for spec, kinds in plan:
        rows += await _serve(spec, kinds, log_dir)
    rows.sort(key=lambda row: [c.name for c in CASES].index(row.case))
    _print(rows)
    for row in rows:
        if row.describe_failures:
            print(f"describe failures, {row.server} / {row.case}: {row.describe_failures[:3]}")
    print(f"server logs: {log_dir}")


if __name__ == "__main__":
    asyncio.run(main())
