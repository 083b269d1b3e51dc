"""The direct-satellite turn, end of speech -> first answer audio, by stage (issue 5).

    .venv/bin/python bench/pipeline_turn.py [--turns 20] [--silence-ms 500] [--device cpu]

What users feel is the time from the end of their speech to the first sound of the answer, so
the clock starts at the true end of speech in the recording (the last 10 ms frame within 30 dB
of the utterance's loudest), not at ``audio-stop``. Each turn is a real satellite's turn:

- the utterance is streamed in 32 ms chunks at real-time pace, followed by room noise
  (-60 dBFS white noise), as a microphone would deliver it;
- the satellite's own end-of-turn code (``wyoming_rtx.audio.vad.SpeechDetector`` +
  ``wyoming_rtx.audio.endpoint.EndOfTurnDetector``, ``--vad-silence-ms`` 500 by default)
  decides when to send ``audio-stop``, so endpointing is inside the figure, as the goal demands;
  when the server ends the turn first (``voice-stopped``, ``--end-of-turn smart``) the satellite
  stops streaming there, as the real one does, and every event is stamped when it arrives;
- the server is the real ``python -m wyoming_rtx`` on the bundled models; its own turn trace
  (``/api/status``) splits the server's share into ASR tail, handling and first synthesis.

Local commands come from ``bench/corpus`` (piper, one voice) and one real recording; LLM
answers come from a fake Ollama (``bench/fake_ollama.py``) that streams at a fixed token rate,
so the LLM figure measures our streaming (sentence to TTS while tokens still arrive), not a
model. Prints a table and writes ``bench/results/latest/pipeline_turn.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.request
import wave
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from server_proc import launch, stop  # noqa: E402
from wyoming.audio import AudioChunk, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming_helpers import free_port  # noqa: E402

from bench.fake_ollama import FakeOllama  # noqa: E402
from bench.turn import open_turn, read_answer  # noqa: E402
from wyoming_rtx.audio.endpoint import EndOfTurnDetector as TurnDetector  # noqa: E402
from wyoming_rtx.audio.endpoint import EndOfTurnRules as TurnTimings  # noqa: E402
from wyoming_rtx.audio.endpoint import TurnPhase as TurnState  # noqa: E402
from wyoming_rtx.audio.vad import CHUNK_BYTES, CHUNK_SECONDS, SpeechDetector  # noqa: E402

RATE, WIDTH = 16000, 2
CORPUS = REPO / "bench" / "corpus"
LOCAL_UTTERANCES = (
    (CORPUS / "kitchen_lights_on.wav", "Turn on the kitchen lights."),
    (CORPUS / "bedroom_lamp_off.wav", "Turn off the bedroom lamp."),
    (CORPUS / "lock_front_door.wav", "Lock the front door."),
    (CORPUS / "downstairs_off.wav", "Turn off all the lights downstairs."),
    (CORPUS / "bedroom_temperature.wav", "What is the temperature in the bedroom?"),
    (CORPUS / "open_garage.wav", "Open the garage door."),
    (REPO / "tests" / "data" / "living_room_light_en.wav", "Turn on the living room light."),
)
"""Commands HA's own English intents match against the bundled demo home (the trace's source
says per turn); "set the living room lights to fifty percent" is not one: HA's sentences want
"the lights in the living room", so it goes to the LLM as it would in Home Assistant."""
LLM_UTTERANCES = ((CORPUS / "capital_of_france.wav", "What is the capital of France?"),)
NOISE_DBFS = -60.0
TAIL_SECONDS = 2.0
"""Room noise after the utterance; the satellite's VAD ends the turn well within it."""
RESULTS = REPO / "bench" / "results" / "latest"


@dataclass
class Utterance:
    """16 kHz mono PCM with the true end of speech located in it."""

    name: str
    text: str
    pcm: bytes
    speech_end_s: float

    @classmethod
    def load(cls, path: Path, text: str) -> Utterance:
        with wave.open(str(path), "rb") as wav:
            if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (RATE, WIDTH, 1):
                raise SystemExit(f"{path}: expected 16 kHz 16-bit mono")
            pcm = wav.readframes(wav.getnframes())
        return cls(path.stem, text, pcm, _speech_end(pcm))


def _speech_end(pcm: bytes) -> float:
    """End of the last 10 ms frame within 30 dB of the loudest frame (the last word's end)."""
    samples = array("h", pcm)
    frame = RATE // 100
    energies = [
        sum(s * s for s in samples[i : i + frame]) / frame for i in range(0, len(samples), frame)
    ]
    floor = max(energies) / 1000.0  # -30 dB in power
    last = max(i for i, energy in enumerate(energies) if energy >= floor)
    return min(len(samples), (last + 1) * frame) / RATE


def _room_noise(seconds: float, seed: int) -> bytes:
    rng = random.Random(seed)
    amplitude = 32767 * 10 ** (NOISE_DBFS / 20)
    count = int(seconds * RATE)
    return array("h", (int(rng.gauss(0, amplitude)) for _ in range(count))).tobytes()


@dataclass
class TurnTiming:
    """Seconds after the true end of speech (client clock), plus the server's own split."""

    kind: str
    utterance: str
    source: str
    transcript: str
    answer: str
    endpoint_s: float
    """End of speech -> the satellite sends audio-stop (its VAD silence window)."""
    transcript_s: float
    handled_s: float
    first_audio_s: float
    server_ms: dict[str, float] = field(default_factory=dict)
    """Server trace: ms after audio-stop arrived, per stage."""


async def satellite_turn(port: int, utterance: Utterance, silence_ms: int, seed: int) -> dict:
    """One turn as a direct satellite would run it; returns client-side timestamps."""
    audio = utterance.pcm + _room_noise(TAIL_SECONDS, seed)
    speech = SpeechDetector()
    detector = TurnDetector(TurnTimings(silence_seconds=silence_ms / 1000))
    fmt = {"rate": RATE, "width": WIDTH, "channels": 1}
    stamps: dict[str, float] = {}
    async with asyncio.timeout(60), AsyncTcpClient("127.0.0.1", port) as client:
        await open_turn(client, fmt)
        # Read while sending, so each event is stamped when it arrives; the server may end the
        # turn itself (voice-stopped) before this satellite's VAD would.
        answer_read = asyncio.create_task(read_answer(client, stamps))
        try:
            start = time.perf_counter()
            stamps["speech_end"] = start + utterance.speech_end_s
            for index, offset in enumerate(range(0, len(audio), CHUNK_BYTES)):
                delay = start + (index + 1) * CHUNK_SECONDS - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # the chunk exists only once it has been spoken
                if answer_read.done() or "voice-stopped" in stamps:
                    break  # the server ended the turn: the satellite stops streaming
                chunk = audio[offset : offset + CHUNK_BYTES]
                await client.write_event(AudioChunk(audio=chunk, **fmt).event())
                ended = False
                for is_speech in speech.process(chunk):
                    ended = detector.process(is_speech, CHUNK_SECONDS) is TurnState.ENDED
                if ended:
                    break
            else:
                raise RuntimeError(f"{utterance.name}: the satellite VAD never ended the turn")
            stamps["audio_stop"] = stamps.get("voice-stopped", time.perf_counter())
            if not answer_read.done():
                await client.write_event(AudioStop().event())
            transcript, answer = await answer_read
        finally:
            answer_read.cancel()
    end = stamps["speech_end"]
    return {
        "endpoint_s": stamps["audio_stop"] - end,
        "transcript_s": stamps["transcript"] - end,
        "handled_s": stamps["handled"] - end,
        "first_audio_s": stamps["audio-chunk"] - end,
        "transcript": transcript,
        "answer": answer,
    }


def _latest_trace(http_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=10) as reply:
        turns = json.load(reply)["turns"]
    return turns[0]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


async def run_kind(
    kind: str, utterances: list[Utterance], turns: int, port: int, http_port: int, silence: int
) -> list[TurnTiming]:
    timings: list[TurnTiming] = []
    for number in range(turns):
        utterance = utterances[number % len(utterances)]
        client = await satellite_turn(port, utterance, silence, seed=number)
        await asyncio.sleep(0.3)  # let the trace finish (played) before reading it
        trace = _latest_trace(http_port)
        timing = TurnTiming(
            kind=kind, utterance=utterance.name, source=trace.get("source", ""),
            transcript=client["transcript"], answer=client["answer"],
            endpoint_s=client["endpoint_s"], transcript_s=client["transcript_s"],
            handled_s=client["handled_s"], first_audio_s=client["first_audio_s"],
            server_ms=trace.get("ms_after_end_of_speech", {}),
        )  # fmt: skip
        if _words(timing.transcript) != _words(utterance.text):
            print(f"  note: {utterance.name} heard as {timing.transcript!r}")
        timings.append(timing)
        print(
            f"  {kind:5} {number + 1:3}/{turns} {utterance.name:22} source={timing.source:5} "
            f"first audio {timing.first_audio_s * 1000:5.0f} ms"
        )
    return timings


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


COLUMNS = (
    ("endpointing", "end of speech -> end of turn (server's voice-stopped, else satellite VAD)"),
    ("asr tail", "audio-stop -> transcript (server)"),
    ("handle", "transcript -> answer text (server)"),
    ("tts first", "answer text -> first audio sent (server)"),
    ("transcript", "end of speech -> transcript received"),
    ("first audio", "end of speech -> first answer audio received"),
)


def _rows(timings: list[TurnTiming]) -> dict[str, list[float]]:
    """Per column, milliseconds for every turn."""
    rows: dict[str, list[float]] = {name: [] for name, _ in COLUMNS}
    for t in timings:
        server = t.server_ms
        rows["endpointing"].append(t.endpoint_s * 1000)
        rows["asr tail"].append(server.get("transcript", float("nan")))
        rows["handle"].append(server.get("answer_text", 0) - server.get("transcript", 0))
        rows["tts first"].append(server.get("first_audio", 0) - server.get("answer_text", 0))
        rows["transcript"].append(t.transcript_s * 1000)
        rows["first audio"].append(t.first_audio_s * 1000)
    return rows


def report(results: dict[str, list[TurnTiming]], args: argparse.Namespace, device: str) -> str:
    lines = [
        f"Direct-satellite turn, {device}; satellite VAD silence {args.silence_ms} ms; "
        f"fake Ollama {args.tokens_per_s:g} tokens/s, first token {args.first_token_s:g} s",
        "",
        "| answer | turns | sources | stat | " + " | ".join(n for n, _ in COLUMNS) + " |",
        "|---|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for kind, timings in results.items():
        rows = _rows(timings)
        sources = ",".join(sorted({t.source for t in timings}))
        for stat, fn in (("median", statistics.median), ("p95", lambda v: _pct(v, 0.95))):
            cells = " | ".join(f"{fn(rows[name]):.0f}" for name, _ in COLUMNS)
            lines.append(f"| {kind} | {len(timings)} | {sources} | {stat} | {cells} |")
    lines += ["", "All figures in ms. Columns:"]
    lines += [f"- {name}: {meaning}" for name, meaning in COLUMNS]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="turns per answer kind")
    parser.add_argument("--silence-ms", type=int, default=500, help="satellite VAD silence")
    parser.add_argument("--tokens-per-s", type=float, default=20.0, help="fake LLM rate")
    parser.add_argument("--first-token-s", type=float, default=0.15)
    parser.add_argument("--device", default="cpu", help="server --device (cpu, cuda, auto)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    local = [Utterance.load(path, text) for path, text in LOCAL_UTTERANCES]
    llm = [Utterance.load(path, text) for path, text in LLM_UTTERANCES]
    fake = FakeOllama(tokens_per_s=args.tokens_per_s, first_token_s=args.first_token_s)
    fake.start()
    http_port = free_port()
    server = launch(
        Path(tempfile.mkdtemp(prefix="pipeline-turn-")),
        "--device", args.device, "--ollama-url", fake.url, "--llm-model", fake.model,
        "--http-uri", f"http://127.0.0.1:{http_port}", *args.server_arg,
    )  # fmt: skip
    results: dict[str, list[TurnTiming]] = {}
    try:
        for warm in local[:2] + llm:  # first-use costs (allocators, caches) stay out of figures
            await satellite_turn(server.port, warm, args.silence_ms, seed=999)
        results["local"] = await run_kind("local", local, args.turns, server.port, http_port,
                                          args.silence_ms)  # fmt: skip
        results["llm"] = await run_kind("llm", llm, args.turns, server.port, http_port,
                                        args.silence_ms)  # fmt: skip
    finally:
        code = stop(server)
        fake.stop()
    device = f"{args.device}, {platform.machine()}, {__import__('os').cpu_count()} cores"
    table = report(results, args, device)
    print()
    print(table)
    print(f"\nserver exit code {code}; LLM chat requests {fake.chat_requests}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline_turn.md").write_text(table + "\n")
    (args.out / "pipeline_turn.json").write_text(
        json.dumps({kind: [asdict(t) for t in ts] for kind, ts in results.items()}, indent=1)
    )


if __name__ == "__main__":
    asyncio.run(main())
