"""One client's text-to-speech in the process: piper's whole graph, the cut voice whole, and a
first sentence in pieces (wyoming_rtx/tts/split_voice.py, render.py).

    python bench/tts_pieces.py [--repeats 25]

Three engines in one process, each request to each in turn (interleaved, so a noisy neighbour
hits all three alike), speech cache off, warm. Prints the median time to the first audio and to
the whole audio, and how many pieces the sentence came in. No server, no protocol: the figure
is the engine's own; `bench/run.py` has the side-by-side with wyoming-piper over Wyoming.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter

from wyoming_rtx.settings import TtsSettings
from wyoming_rtx.tts import loading
from wyoming_rtx.tts.engine import TtsEngine

TEXTS = {
    "short reply": "Turned on the kitchen lights.",
    "long sentence": (
        "Tomorrow will be sunny with a high of twenty four degrees, so you will not need an "
        "umbrella."
    ),
}


async def _engines() -> dict[str, tuple[TtsEngine, bool]]:
    """(engine, first_clause) per way of rendering."""
    cut = TtsEngine(TtsSettings(cache_mb=0))
    await cut.load()
    real_cut = loading.cut_voice
    loading.cut_voice = lambda _path: None  # piper's own session, as before the cut
    try:
        whole_graph = TtsEngine(TtsSettings(cache_mb=0), split_first_clause=False)
        await whole_graph.load()
    finally:
        loading.cut_voice = real_cut
    return {
        "piper's whole graph": (whole_graph, False),
        "cut voice, whole sentence": (cut, False),
        "cut voice, in pieces": (cut, True),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    engines = await _engines()
    print("| text | rendering | first audio, ms | whole audio, ms | pieces |")
    print("|---|---|---:|---:|---|")
    for label, text in TEXTS.items():
        first: dict[str, list[float]] = {name: [] for name in engines}
        total: dict[str, list[float]] = {name: [] for name in engines}
        pieces: dict[str, Counter[int]] = {name: Counter() for name in engines}
        for repeat in range(args.repeats + 1):
            for name, (engine, first_clause) in engines.items():
                started = time.perf_counter()
                first_at = 0.0
                count = 0
                async for _audio in engine.synthesize(text, first_clause=first_clause):
                    count += 1
                    first_at = first_at or time.perf_counter() - started
                if repeat:  # the first round is a warm-up
                    first[name].append(first_at * 1000)
                    total[name].append((time.perf_counter() - started) * 1000)
                    pieces[name][count] += 1
        for name in engines:
            counts = ", ".join(f"{n}: {times}×" for n, times in sorted(pieces[name].items()))
            print(
                f"| {label} | {name} | {statistics.median(first[name]):.0f} | "
                f"{statistics.median(total[name]):.0f} | {counts} |"
            )
    for engine, _first_clause in engines.values():
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
