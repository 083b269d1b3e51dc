"""The figures issue 2 asks for, against a real server process on this machine.

Usage: .venv/bin/python bench/server_figures.py
Prints a table: describe round trip (idle, during a long synthesis), ASR time from
audio-stop to transcript (test files at real-time pace, 0.7 s trailing silence as HA's
VAD leaves), TTS time to first audio for three sentences (non-streaming, streaming, and
4 clients at once).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from wyoming_helpers import describe, read_wav, start_server, synthesize, transcribe  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
THREE = (
    "The kitchen light is on. The front door is locked. It is twenty one degrees in the bedroom."
)
LONG = " ".join(f"Sentence {n} keeps the synthesizer busy for a while." for n in range(150))


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (max {max(values) * 1000:.0f})"


async def main() -> None:
    server = await start_server("--tts-cache-mb", "0")  # first-audio figures: render each time
    rows: list[tuple[str, str]] = []
    try:
        idle = [(await describe(server.port))[1] for _ in range(20)]
        rows.append(("describe, idle (20)", ms(idle)))
        long_job = asyncio.create_task(synthesize(server.port, LONG))
        await asyncio.sleep(0.5)
        busy = []
        for _ in range(20):
            busy.append((await describe(server.port))[1])
            await asyncio.sleep(0.05)
        rows.append(("describe, during a 8,000-char synthesis (20)", ms(busy)))
        await long_job
        for name in ("living_room_light_en.wav", "turn_on_the_living_room_lamp.wav"):
            after = []
            for _ in range(3):
                result = await transcribe(
                    server.port, *read_wav(DATA / name), realtime=True, trailing_silence=0.7
                )
                after.append(result.after_stop)
            rows.append((f"ASR audio-stop → transcript, {name} (3, real time)", ms(after)))
        for streaming in (False, True):
            firsts = [
                (await synthesize(server.port, THREE, streaming)).first_audio for _ in range(5)
            ]
            label = "streaming" if streaming else "non-streaming"
            rows.append((f"TTS first audio, 3 sentences, {label} (5)", ms(firsts)))
            results = await asyncio.gather(
                *(synthesize(server.port, THREE, streaming) for _ in range(4))
            )
            rows.append(
                (
                    f"TTS first audio, 3 sentences, {label}, 4 clients at once",
                    ms([r.first_audio for r in results]),
                )
            )
    finally:
        await server.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)} | median (max)")
    print(f"{'-' * width}-|-------------")
    for label, value in rows:
        print(f"{label.ljust(width)} | {value}")


if __name__ == "__main__":
    asyncio.run(main())
