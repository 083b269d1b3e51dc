"""The second decode's encoder window: words and time, on turns the project was not tuned on.

    .venv/bin/python bench/asr_second_window.py [--windows 15 20 30]

A direct turn's fast decode (15 s window on a CPU, biased by the home's names) is kept only
when its text is a local command; otherwise the speech is decoded a second time, unbiased
(``wyoming_rtx/asr/command_window.py``). That second decode is on the critical path of every
question for the LLM and of every command the fast decode misheard. This bench decodes each
turn unbiased with each window through the real ``AsrEngine`` (one process, the windows
interleaved, so machine noise hits each alike) and prints, per kind of turn, the word error
rate, how many transcripts are exact, and the median decode time.

The turns:

- the end-of-turn bench's 50 (``bench/turn_corpus.py``, its default seed), each cut 0.2 s
  after its true end of speech, where the turn's decode runs;
- 96 new ones: the 24 questions and 24 commands below (a home the project never used), each
  rendered twice by the corpus's voices (other voices for each text), once quiet and once in
  pink or brown noise at 20 dB SNR, with ``--lead`` seconds of silence before (0.5 by
  default; a satellite's pre-roll leaves 0.2-0.4) and 0.2 s after.

Needs sox and espeak-ng (as the turn corpus does).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.turn_corpus import (  # noqa: E402
    NOISY_SNR_DB,
    RATE,
    VOICES,
    Synth,
    ensure_corpus,
    noise_beds,
    read_pcm,
    speech_bounds,
)
from bench.wer import word_errors  # noqa: E402
from wyoming_rtx.asr.engine import AsrEngine  # noqa: E402
from wyoming_rtx.settings import AsrSettings  # noqa: E402

NEW_QUESTIONS = (
    "What time is it in Tokyo?",
    "How tall is the Eiffel Tower?",
    "Who invented the telephone?",
    "What is the boiling point of water?",
    "How many days are in a leap year?",
    "Why do cats purr?",
    "Where is the Great Barrier Reef?",
    "When did the Berlin Wall fall?",
    "Can dogs eat grapes?",
    "Is a tomato a fruit?",
    "What does a koala eat?",
    "How deep is the ocean?",
    "Tell me a joke.",
    "Give me a recipe for pancakes.",
    "Explain how rainbows form.",
    "Who was the first person on the moon?",
    "What should I cook tonight?",
    "How do bees make honey?",
    "What is the largest planet?",
    "Do penguins have knees?",
    "Why is the sea salty?",
    "How old is the universe?",
    "What language do they speak in Brazil?",
    "Recommend a good book.",
)
NEW_COMMANDS = (
    "Turn on the ceiling fan.",
    "Turn off the porch light.",
    "Close the garage door.",
    "Open the garage door.",
    "Switch on the reading lamp.",
    "Turn on the towel warmer.",
    "Turn off the sprinkler valve.",
    "Close the bay window blinds.",
    "Turn on the hallway runner lights.",
    "Is the wine fridge on?",
    "Turn off the heated floor.",
    "Lock the back gate.",
    "Unlock the back gate.",
    "Is the back gate locked?",
    "Turn off the desk lamp.",
    "Set the desk lamp to thirty percent.",
    "Turn on the record player.",
    "Switch off the salt lamp.",
    "Lock the cellar door.",
    "Is the cellar door locked?",
    "Turn off the lights in the den.",
    "Turn on the lights in the sunroom.",
    "Open the bay window blinds.",
    "Unlock the cellar door.",
)
TAIL_SECONDS = 0.2
"""The turn's decode runs this far into the pause (the judged turn's end pause)."""
SPEECH_RMS = 0.06


def bench_turns() -> list[tuple[str, str, bytes]]:
    """(kind, text, PCM) of the end-of-turn corpus, up to 0.2 s after each end of speech."""
    folder, items = ensure_corpus()
    turns = []
    for item in items:
        pcm = read_pcm(folder / item.file)
        end = int((item.speech_end_s + TAIL_SECONDS) * RATE) * 2
        turns.append((f"bench {item.kind}", item.text, pcm[:end]))
    return turns


def new_turns(lead_seconds: float, seed: int = 5) -> list[tuple[str, str, bytes]]:
    """(kind, text, PCM) of the new texts, quiet and noisy, in the corpus's voices."""
    synth, beds, rng = Synth(), noise_beds(), random.Random(seed)
    turns = []
    texts = [("new question", t) for t in NEW_QUESTIONS] + [
        ("new command", t) for t in NEW_COMMANDS
    ]
    for index, (kind, text) in enumerate(texts):
        for noisy in (False, True):
            voice = VOICES[(index * 3 + noisy * 5) % len(VOICES)]
            speech = synth.speak(voice, text) / 32768.0
            start, end = speech_bounds(speech * 32768.0)
            speech = speech[int(start * RATE) : int(end * RATE)]
            speech *= SPEECH_RMS / (np.sqrt(np.mean(speech**2)) + 1e-9)
            lead = np.zeros(int(lead_seconds * RATE))
            audio = np.concatenate([lead, speech, np.zeros(int(TAIL_SECONDS * RATE))])
            if noisy:
                bed = beds["pink" if index % 2 else "brown"]
                at = rng.randrange(0, bed.size - audio.size)
                noise = bed[at : at + audio.size] / 32768.0
                noise *= SPEECH_RMS / (np.sqrt(np.mean(noise**2)) + 1e-9)
                audio = audio + noise * 10 ** (-NOISY_SNR_DB / 20)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            turns.append((kind, text, pcm))
    return turns


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=float, nargs="+", default=[15.0, 20.0, 30.0])
    parser.add_argument(
        "--lead",
        type=float,
        default=0.5,
        help="seconds of silence before the new turns' speech (a satellite's pre-roll: ~0.2-0.4)",
    )
    parser.add_argument("--new-only", action="store_true", help="skip the end-of-turn corpus")
    args = parser.parse_args()
    windows = sorted(set(args.windows))
    engine = AsrEngine(AsrSettings(device="cpu"))
    await engine.load()
    turns = ([] if args.new_only else bench_turns()) + new_turns(args.lead)
    kinds = list(dict.fromkeys(kind for kind, _, _ in turns)) + ["all"]
    errors = {(k, w): 0 for k in kinds for w in windows}
    exact = dict.fromkeys(errors, 0)
    times: dict[tuple[str, float], list[float]] = {key: [] for key in errors}
    words = dict.fromkeys(kinds, 0)
    count = dict.fromkeys(kinds, 0)
    for kind, text, pcm in turns:
        for group in (kind, "all"):
            count[group] += 1
        for window in windows:
            started = time.perf_counter()
            decoded = await engine.decode(pcm, "en", window_seconds=window, vocabulary=False)
            took = time.perf_counter() - started
            wrong, total = word_errors(text, decoded.text)
            for group in (kind, "all"):
                errors[group, window] += wrong
                exact[group, window] += wrong == 0
                times[group, window].append(took)
                if window == windows[0]:
                    words[group] += total
    await engine.close()
    print(
        f"{len(turns)} turns, decoded unbiased (no home names), tiny.en int8 on the CPU; "
        f"new turns' lead-in {args.lead:g} s"
    )
    print()
    print("| turns | n | window s | WER % | exact | median ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for window in windows:
            key = (kind, window)
            print(
                f"| {kind} | {count[kind]} | {window:g} | {100 * errors[key] / words[kind]:.1f} "
                f"| {exact[key]}/{count[kind]} | {1000 * statistics.median(times[key]):.0f} |"
            )
    print()
    print(
        "Command: .venv/bin/python bench/asr_second_window.py --windows "
        + " ".join(f"{w:g}" for w in windows)
        + f" --lead {args.lead:g}"
        + (" --new-only" if args.new_only else "")
    )


if __name__ == "__main__":
    asyncio.run(main())
