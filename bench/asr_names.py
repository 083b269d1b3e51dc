"""Names the home uses, heard with and without the home's vocabulary as whisper's prompt.

    .venv/bin/python bench/asr_names.py [--repeats 1]

Issue 20, point 1: the names of the exposed entities, areas and floors bias the decoder
(``wyoming_rtx/asr/vocabulary.py``). Measured on recordings made for it, not tuned on: the
end-of-turn corpus (``bench/turn_corpus.py``: piper and espeak-ng voices, half of them in pink
or brown room noise, hesitations joined from two renderings, slow commands, questions) for a
home of unusual names (``bench/turn_home.yaml``). Every item is decoded by the server's own
engine (bundled tiny.en, the server's decode path: ``AsrEngine.decode``, full window) twice,
with the vocabulary and without, alternating which goes first.

Reported: the **name error rate** (of the home's names said in an item, the share missing
from its transcript), the word error rate (bench/wer.py) of the commands and, as a check that
the prompt does not hurt other speech, of the questions; and the decode time (median, ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from bench.turn_corpus import ensure_corpus, read_pcm  # noqa: E402
from bench.wer import corpus_wer, normalize  # noqa: E402
from wyoming_rtx.asr.engine import AsrEngine  # noqa: E402
from wyoming_rtx.asr.vocabulary import home_vocabulary  # noqa: E402
from wyoming_rtx.home.home_file import FileHome  # noqa: E402
from wyoming_rtx.settings import AsrSettings  # noqa: E402

HOME_FILE = REPO / "bench" / "turn_home.yaml"


def names_in(text: str, names: list[str]) -> list[str]:
    """The home's names said in `text` (longest first, each place used once)."""
    said = " " + " ".join(normalize(text)) + " "
    found = []
    for name in sorted(names, key=len, reverse=True):
        key = " " + " ".join(normalize(name)) + " "
        if key.strip() and key in said:
            found.append(name)
            said = said.replace(key, " ")
    return found


def heard(name: str, transcript: str) -> bool:
    return " " + " ".join(normalize(name)) + " " in " " + " ".join(normalize(transcript)) + " "


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="decodes per item and setting")
    args = parser.parse_args()

    folder, items = ensure_corpus()
    home = FileHome(HOME_FILE)
    await home.start()
    snapshot = home.snapshot
    names = [a.name for a in snapshot.areas.values()] + [e.name for e in snapshot.entities.values()]
    vocabulary = home_vocabulary(snapshot)
    engine = AsrEngine(AsrSettings())
    await engine.load()
    settings = {"without": "", "with": vocabulary}
    rows: dict[str, list[tuple[str, str, str, float]]] = {key: [] for key in settings}
    for number, item in enumerate(items):
        pcm = read_pcm(folder / item.file)
        order = list(settings) if number % 2 == 0 else list(reversed(settings))
        for _ in range(args.repeats):
            for key in order:
                engine.vocabulary = lambda text=settings[key]: text
                decoded = await engine.decode(pcm, "en", window_seconds=30.0)
                rows[key].append((item.kind, item.text, decoded.text, decoded.decode_seconds))
    await engine.close()

    print(f"Home vocabulary prompt ({len(vocabulary)} chars): {vocabulary}")
    print(f"{len(items)} items x {args.repeats}, {folder.name}\n")
    print(
        "| prompt | names said | names missed | name error rate | command WER | question WER "
        "| decode p50 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for key, results in rows.items():
        said = missed = 0
        for _kind, text, transcript, _seconds in results:
            for name in names_in(text, names):
                said += 1
                missed += not heard(name, transcript)
        commands = [(t, h) for k, t, h, _ in results if k != "question"]
        questions = [(t, h) for k, t, h, _ in results if k == "question"]
        p50 = statistics.median(s for *_, s in results) * 1000
        print(
            f"| {key} | {said} | {missed} | {missed / max(said, 1):.1%} | "
            f"{corpus_wer(commands):.1%} | {corpus_wer(questions):.1%} | {p50:.0f} |"
        )
    print("\nNames missed without / with the vocabulary:")
    for (_, text, plain, _), (_, _, biased, _) in zip(rows["without"], rows["with"], strict=True):
        lost = [n for n in names_in(text, names) if not heard(n, plain)]
        kept = [n for n in names_in(text, names) if not heard(n, biased)]
        if lost or kept:
            print(f"- {text!r}: {plain!r} -> {biased!r}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
