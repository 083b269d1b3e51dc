"""Satellite detection benchmark: wake word and end-of-turn latency, CPU cost, false wakes.

Runs the real listening loop (``satellite.core.SatelliteLoop``) over the piper fixtures in
``tests/satellite/fixtures`` as fast as the CPU allows; every latency is measured on *audio
time*, so the figures equal what a live microphone would see (plus scheduling jitter).

    .venv/bin/python bench/satellite_detect.py [--engine openwakeword|microwakeword|both]

Columns:
- wake delay: detection time minus the end of the wake phrase ("Hey Jarvis!").
- end-of-turn delay: the turn-end decision minus the end of the last word (includes the
  ``--vad-silence-ms`` window, 500 ms by default).
- CPU/s audio: process CPU seconds per second of audio for the wake engine and silero VAD
  both running on every chunk (the worst case; the satellite runs one or the other).
- false wakes/h: detections on 85 s of varied speech without a wake phrase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from satellite.audio_in import MicSupervisor  # noqa: E402
from satellite.audio_out import NullSink, Speaker  # noqa: E402
from satellite.core import SatelliteLoop  # noqa: E402
from satellite.settings import (  # noqa: E402
    MicSettings,
    SatelliteSettings,
    SndSettings,
    VadSettings,
    WakeSettings,
)
from satellite.turn import EndReason  # noqa: E402
from satellite.vad import SpeechDetector  # noqa: E402
from satellite.wake import WakeDetection, WakeDetector, WakeEngine, make_engine  # noqa: E402

FIXTURES = ROOT / "tests" / "satellite" / "fixtures"


class _Turn:
    async def audio(self, pcm: bytes) -> None:
        return None

    async def end(self, reason: EndReason) -> None:
        return None


class _Transport:
    busy = False

    async def begin_turn(self, detection: WakeDetection) -> _Turn:
        return _Turn()


async def _listen(wav: Path, engine: WakeEngine, settings: SatelliteSettings) -> SatelliteLoop:
    settings = SatelliteSettings(
        mic=MicSettings(file=wav, tail_silence_seconds=1.0),
        snd=SndSettings(awake_wav=None, done_wav=None),
        wake=settings.wake,
        vad=settings.vad,
    )
    loop = SatelliteLoop(
        settings,
        MicSupervisor(settings.mic),
        WakeDetector(engine, settings.wake),
        Speaker(settings.snd, NullSink()),
        _Transport(),
    )
    await loop.run()
    return loop


def _pcm(wav: Path) -> bytes:
    with wave.open(str(wav), "rb") as f:
        return f.readframes(f.getnframes())


def _cpu_per_second(engine: WakeEngine, wake: WakeSettings, pcm: bytes) -> tuple[float, float]:
    """(wake, vad) CPU seconds per audio second, every 32 ms chunk through both."""
    detector = WakeDetector(engine, wake)
    vad = SpeechDetector()
    chunks = [pcm[i : i + 1024] for i in range(0, len(pcm), 1024)]
    start = time.process_time()
    for chunk in chunks:
        detector.process(chunk)
    wake_cpu = time.process_time() - start
    start = time.process_time()
    for chunk in chunks:
        vad.process(chunk)
    vad_cpu = time.process_time() - start
    seconds = len(pcm) / 32000
    return wake_cpu / seconds, vad_cpu / seconds


def bench(engine_name: str, manifest: dict) -> dict[str, str]:
    wake = WakeSettings(engine=engine_name, names=("hey_jarvis", "ok_nabu", "alexa"))
    settings = SatelliteSettings(wake=wake, vad=VadSettings())
    started = time.perf_counter()
    engine = make_engine(wake)
    load = time.perf_counter() - started

    meta = manifest["wake_command.wav"]
    loop = asyncio.run(_listen(FIXTURES / "wake_command.wav", engine, settings))
    wakes = [e for e in loop.events if e.kind == "wake"]
    ended = [e for e in loop.events if e.kind == "turn_ended"]
    wake_delay = wakes[0].audio_seconds - meta["wake_end_s"] if wakes else float("nan")
    turn_delay = ended[0].audio_seconds - meta["speech_end_s"] if ended else float("nan")

    no_wake = manifest["no_wake_speech.wav"]
    loop = asyncio.run(_listen(FIXTURES / "no_wake_speech.wav", engine, settings))
    false_wakes = sum(e.kind == "wake" for e in loop.events)
    per_hour = false_wakes * 3600 / no_wake["duration_s"]

    pcm = _pcm(FIXTURES / "no_wake_speech.wav")
    wake_cpu, vad_cpu = _cpu_per_second(engine, wake, pcm)
    return {
        "engine": engine_name,
        "load s": f"{load:.2f}",
        "detections": f"{len(wakes)}",
        "wake delay ms": f"{wake_delay * 1000:+.0f}",
        "end-of-turn delay ms": f"{turn_delay * 1000:.0f} ({ended[0].detail if ended else '-'})",
        "wake CPU/s": f"{wake_cpu * 100:.1f} %",
        "VAD CPU/s": f"{vad_cpu * 100:.1f} %",
        "wake+VAD CPU/s": f"{(wake_cpu + vad_cpu) * 100:.1f} %",
        "false wakes/h": f"{per_hour:.0f} ({false_wakes} in {no_wake['duration_s']:.0f} s)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engine", choices=["openwakeword", "microwakeword", "both"], default="both"
    )
    args = parser.parse_args()
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    engines = ["openwakeword", "microwakeword"] if args.engine == "both" else [args.engine]
    rows = [bench(name, manifest) for name in engines]
    columns = list(rows[0])
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        cells = [row[c].ljust(w) for c, w in zip(columns, widths, strict=True)]
        print("| " + " | ".join(cells) + " |")
    print(
        "\nwake phrase 'Hey Jarvis!' then 'Turn on the kitchen light.' (piper joe, 16 kHz);"
        " 3 wake models loaded; VAD silence window 500 ms; CPU as % of one core."
    )


if __name__ == "__main__":
    main()
