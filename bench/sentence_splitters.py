"""Our sentence splitter against sentence-stream (wyoming-piper's choice), on streamed text.

    .venv/bin/pip install sentence-stream==1.3.0   # only for this comparison
    .venv/bin/python bench/sentence_splitters.py

Each case is fed in random 1-6 character deltas (five seeds), as an LLM streams its answer; a
splitter passes a case when every seed gives the expected pieces. Then the cost per delta, which
is paid on the event loop for every token, and how soon the first pieces come out.
"""

from __future__ import annotations

import random
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wyoming_rtx.tts.sentences import SentenceSplitter  # noqa: E402

try:
    from sentence_stream import SentenceBoundaryDetector
except ImportError:  # not a dependency of the project
    sys.exit("install sentence-stream first: .venv/bin/pip install sentence-stream==1.3.0")

Splitter = Callable[[list[str]], list[str]]


def deltas(text: str, seed: int) -> list[str]:
    """The text cut into random 1-6 character pieces."""
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        n = rng.randint(1, 6)
        out.append(text[i : i + n])
        i += n
    return out


def ours(pieces: list[str]) -> list[str]:
    splitter = SentenceSplitter()
    out: list[str] = []
    for piece in pieces:
        out += splitter.add(piece)
    return out + splitter.flush()


def theirs(pieces: list[str]) -> list[str]:
    detector = SentenceBoundaryDetector()
    out: list[str] = []
    for piece in pieces:
        out += list(detector.add_chunk(piece))
    rest = detector.finish()
    return out + ([rest] if rest else [])


CASES = {
    "abbrev Dr.": ("Dr. Smith is in. Call him.", ["Dr. Smith is in.", "Call him."]),
    "abbrev e.g.": ("Use e.g. a lamp. Or not.", ["Use e.g. a lamp.", "Or not."]),
    "decimal": ("It is 3.5 degrees. Cold.", ["It is 3.5 degrees.", "Cold."]),
    "p.m. mid": ("At 10 p.m. we eat. Then sleep.", ["At 10 p.m. we eat.", "Then sleep."]),
    "p.m. end": ("We eat at 10 p.m. Then we sleep.", ["We eat at 10 p.m.", "Then we sleep."]),
    "U.S. Army": (
        "He joined the U.S. Army in May. Then he left.",
        ["He joined the U.S. Army in May.", "Then he left."],
    ),
    "initial": ("John F. Kennedy spoke. Then left.", ["John F. Kennedy spoke.", "Then left."]),
    "version": ("Version 2.0.1 is out. Update now.", ["Version 2.0.1 is out.", "Update now."]),
    "short word end": ("I met Bob. He says hi.", ["I met Bob.", "He says hi."]),
    "Yes. start": ("Yes. The kitchen light is on now.", ["Yes.", "The kitchen light is on now."]),
    "TV. end": (
        "I turned off the TV. The lights are next.",
        ["I turned off the TV.", "The lights are next."],
    ),
    "next starts lowercase": (
        "The light is on. it is bright.",
        ["The light is on.", "it is bright."],
    ),
    "next starts digit": (
        "It is warm today. 25 degrees at noon.",
        ["It is warm today.", "25 degrees at noon."],
    ),
    "next starts quote": ('He left. "Bye," he said.', ["He left.", '"Bye," he said.']),
    "ellipsis": ("Well… maybe not. Okay.", ["Well… maybe not.", "Okay."]),
    "ellipsis upper": ("Wait… Okay, done.", ["Wait…", "Okay, done."]),
    "quote closer": (
        'He said "go." Then (he left.) Done.',
        ['He said "go."', "Then (he left.)", "Done."],
    ),
    "URL": (
        "Visit example.com/docs today. Then call https://x.org/a.b?q=1. Done.",
        ["Visit example.com/docs today.", "Then call https://x.org/a.b?q=1.", "Done."],
    ),
    "numbers": (
        "The meter reads 3,000 units at 10:30. It costs $4.99. Fine.",
        ["The meter reads 3,000 units at 10:30.", "It costs $4.99.", "Fine."],
    ),
    "list newline": (
        "You need:\n1. Milk\n2. Eggs\n3. Bread",
        ["You need:", "1. Milk", "2. Eggs", "3. Bread"],
    ),
    "bullets": ("You need:\n- Milk\n- Eggs", ["You need:", "- Milk", "- Eggs"]),
    "list sentences": (
        "Steps:\n1. Open the app.\n2. Tap Lights.\n3. Done.",
        ["Steps:", "1. Open the app.", "2. Tap Lights.", "3. Done."],
    ),
    "paragraph": ("Shopping list\n\nMilk and eggs", ["Shopping list", "Milk and eggs"]),
    "CJK": ("你好。我是乔！你呢？", ["你好。", "我是乔！", "你呢？"]),
    "de abbrev": (
        "Das ist z.B. gut. Dr. Müller kommt um 10 Uhr. Danke.",
        ["Das ist z.B. gut.", "Dr. Müller kommt um 10 Uhr.", "Danke."],
    ),
    "de ordinal": ("Er kommt am 3. Oktober. Bis dann.", ["Er kommt am 3. Oktober.", "Bis dann."]),
    "de Nr.": ("Das ist Nr. 5 im Regal. Gut.", ["Das ist Nr. 5 im Regal.", "Gut."]),
    "de bzw. usw.": (
        "Licht bzw. Lampe usw. sind an. Gut.",
        ["Licht bzw. Lampe usw. sind an.", "Gut."],
    ),
    "fr space before !?": ("Bonjour ! Ça va ? Oui.", ["Bonjour !", "Ça va ?", "Oui."]),
    "fr M. / guillemets": (
        "M. Dupont a dit « bonjour. » Puis il est parti.",
        ["M. Dupont a dit « bonjour. »", "Puis il est parti."],
    ),
    "fr lowercase after": (
        "Il fait 20 degrés. Éteins la lampe.",
        ["Il fait 20 degrés.", "Éteins la lampe."],
    ),
    "es inverted": (
        "¿Qué hora es? ¡Son las diez! Sr. García llega.",
        ["¿Qué hora es?", "¡Son las diez!", "Sr. García llega."],
    ),
    "de usw. end": ("Milch, Eier usw. Dann gehen wir.", ["Milch, Eier usw.", "Dann gehen wir."]),
    "de date": (
        "Heute ist der 24. Dezember. Frohe Weihnachten!",
        ["Heute ist der 24. Dezember.", "Frohe Weihnachten!"],
    ),
    "es etc.": (
        "Hay leche, huevos, etc. en la nevera. Bien.",
        ["Hay leche, huevos, etc. en la nevera.", "Bien."],
    ),
}

ANSWER = (
    "Sure. The kitchen light is on and the temperature is 21.5 degrees. "
    "Dr. Smith said you should, e.g., keep the heating at 20 degrees after 10 p.m. tonight. "
    "The forecast for tomorrow: sunny, with a high of 25 degrees and a light breeze from the west. "
    "I also turned off the TV in the living room. Anything else? "
) * 2
RUN_ON = (
    "and then the lights in the hall and the kitchen and the living room were turned off "
    "while the heating kept running because nobody had told it otherwise "
) * 36


def first_pieces(add: Callable[[str], list[str]], pieces: list[str]) -> list[int]:
    """Characters of input consumed when each piece came out."""
    seen, out = 0, []
    for piece in pieces:
        seen += len(piece)
        out += [seen] * len(add(piece))
    return out


def main() -> None:
    splitters: dict[str, Splitter] = {"ours": ours, "sentence-stream": theirs}
    print("| case | ours | sentence-stream |\n|---|---|---|")
    passed = dict.fromkeys(splitters, 0)
    for name, (text, want) in CASES.items():
        row = []
        for label, split in splitters.items():
            ok = all(split(deltas(text, seed)) == want for seed in range(5))
            passed[label] += ok
            row.append("ok" if ok else "wrong")
        print(f"| {name} | {row[0]} | {row[1]} |")
    print(f"| **passed of {len(CASES)}** | {passed['ours']} | {passed['sentence-stream']} |\n")

    print("| text | chars | ours µs/delta | sentence-stream µs/delta |\n|---|---:|---:|---:|")
    for name, text in (("answer", ANSWER), ("run-on, no full stop", RUN_ON)):
        pieces = deltas(text, 1)
        costs = [
            min(timeit.repeat(lambda s=split, p=pieces: s(p), number=5, repeat=3)) / 5 / len(pieces)
            for split in splitters.values()
        ]
        print(f"| {name} | {len(text)} | {costs[0] * 1e6:.1f} | {costs[1] * 1e6:.1f} |")

    text = "Yes. The kitchen light is on. I turned off the TV. The heating is at 20 degrees. Bye."
    pieces = deltas(text, 2)
    detector = SentenceBoundaryDetector()
    print("\ncharacters read when each piece came out (streamed answer):")
    print("  ours:           ", first_pieces(SentenceSplitter().add, pieces))
    print("  sentence-stream:", first_pieces(lambda d: list(detector.add_chunk(d)), pieces))


if __name__ == "__main__":
    main()
