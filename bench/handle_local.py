"""Time to match and execute a local command (hassil + the demo home), over many utterances.

Measures `Assistant.answer()` end to end for local intents: recognition against the home's
names, target matching, the state change and rendering the spoken response. No LLM, no I/O
except the in-memory home file. Run from the repository root:

    .venv/bin/python -m bench.handle_local [--rounds 5] [--language en]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import defaultdict

from bench.stats import median, percentile
from wyoming_rtx.handle import Answer, Assistant, HandleRequest
from wyoming_rtx.settings import HandleSettings

UTTERANCES: list[tuple[str, str | None]] = [
    ("turn on the kitchen light", None),
    ("turn off the kitchen light", None),
    ("switch on the kitchen lamp", None),
    ("turn off the living room lamp", None),
    ("turn on the ceiling light", None),
    ("turn on the coffee maker", None),
    ("turn off the coffee machine", None),
    ("turn on the tv", None),
    ("turn off the television", None),
    ("turn on the ceiling fan", None),
    ("turn off the bedroom fan", None),
    ("open the garage door", None),
    ("close the garage door", None),
    ("open the blinds", None),
    ("close the living room blinds", None),
    ("lock the front door", None),
    ("unlock the front door", None),
    ("turn on the lights", "Kitchen"),
    ("turn off the lights", "Bedroom"),
    ("turn on the lights in the office", None),
    ("turn off the lights upstairs", None),
    ("turn off all the lights", None),
    ("set the kitchen light to 50%", None),
    ("set the desk lamp brightness to 20 percent", None),
    ("make the bedside lamp blue", None),
    ("is the kitchen light on", None),
    ("is the front door locked", None),
    ("which lights are on", None),
    ("what's the temperature in the living room", None),
    ("what is the temperature in the bedroom", None),
    ("what time is it", None),
    ("what's the date today", None),
    ("set a timer for 5 minutes", None),
    ("how much time is left on my timer", None),
    ("cancel the timer", None),
    ("never mind", None),
]


async def run(rounds: int, language: str) -> None:
    """Warm up once, then time every utterance `rounds` times; print a table."""
    assistant = Assistant(HandleSettings(language=language))
    started = time.perf_counter()
    await assistant.start()
    start_ms = (time.perf_counter() - started) * 1000
    by_intent: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    misses: set[str] = set()
    for round_no in range(rounds + 1):
        for text, area in UTTERANCES:
            t0 = time.perf_counter()
            answer: Answer | None = None
            async for item in assistant.answer(HandleRequest(text, area=area)):
                if isinstance(item, Answer):
                    answer = item
            elapsed = (time.perf_counter() - t0) * 1000
            if answer is None or answer.source != "local":
                misses.add(text)
                continue
            if round_no > 0:  # round 0 warms first-use caches
                by_intent[answer.intent or "?"].append(elapsed)
                every.append(elapsed)
    await assistant.stop()
    print(
        f"handle_local: {len(every)} timed local commands ({len(UTTERANCES)} utterances x "
        f"{rounds} rounds), language {language}, start-up {start_ms:.0f} ms"
    )
    print(f"{'intent':<28}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}")
    for intent, values in sorted(by_intent.items()):
        print(
            f"{intent:<28}{len(values):>5}{median(values):>12.2f}"
            f"{percentile(values, 95):>10.2f}{max(values):>10.2f}"
        )
    print(
        f"{'ALL':<28}{len(every):>5}{median(every):>12.2f}"
        f"{percentile(every, 95):>10.2f}{max(every):>10.2f}"
    )
    if misses:
        print(f"not matched locally: {sorted(misses)}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--language", default="en")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.rounds, args.language))


if __name__ == "__main__":
    main()
