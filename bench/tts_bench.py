"""TTS measurements: time to first audio and total time, one client and four at once.

First audio is what the user hears as the answer starting; with sentence streaming it depends on
the first sentence (or clause) only. Both a one-sentence reply (a local command's answer) and a
multi-sentence answer (an LLM's) are measured, as ``synthesize`` and as a text stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from bench.client import TtsResult, synthesize
from bench.figures import Figure, Target, interleaved, summary_figure

TEXTS = {
    "short": "Turned on the kitchen lights.",
    "long": (
        "The living room lights are now at fifty percent. It is twenty one degrees inside, and "
        "the front door is locked. Tomorrow will be sunny with a high of twenty four degrees, so "
        "you will not need an umbrella."
    ),
}
TEXT_LABELS = {"short": "short reply (1 sentence)", "long": "answer (3 sentences)"}


@dataclass(frozen=True)
class TtsPlan:
    """Repeats for one client, rounds for the concurrent case."""

    repeats: int
    rounds: int
    concurrency: int = 4


def supports_streaming(info: dict) -> bool:
    """Whether the server's first TTS program says it accepts synthesize-start/chunk/stop."""
    programs = info.get("tts") or []
    return bool(programs and programs[0].get("supports_synthesize_streaming"))


async def _measure(
    targets: Sequence[Target], text_id: str, streaming: bool, plan: TtsPlan
) -> list[Figure]:
    """Single-client and concurrent figures for one text and one request style."""
    text = TEXTS[text_id]
    style = "streaming" if streaming else "synthesize"
    group = f"TTS, {style}"
    base = f"tts.{style}.{text_id}"
    usable = [t for t in targets if supports_streaming(t.info) or not streaming]
    note = ""
    if len(usable) < len(targets):
        skipped = ", ".join(t.name for t in targets if t not in usable)
        note = f"{skipped}: no synthesize streaming in its info"

    async def single(target: Target, _: int) -> TtsResult:
        return await synthesize(target.host, target.port, text, streaming=streaming)

    async def together(target: Target, _: int) -> list[TtsResult]:
        got = await asyncio.gather(
            *(single(target, k) for k in range(plan.concurrency)), return_exceptions=True
        )
        ok = [g for g in got if isinstance(g, TtsResult)]
        if len(ok) < len(got):
            raise RuntimeError(f"{len(got) - len(ok)} of {len(got)} concurrent requests failed")
        return ok

    one, fail_one = await interleaved(usable, list(range(plan.repeats)), single)
    many, fail_many = await interleaved(usable, list(range(plan.rounds)), together)
    first = {role: [r.first_audio_s for _, r in rows] for role, rows in one.items()}
    total = {role: [r.total_s for _, r in rows] for role, rows in one.items()}
    first_many = {
        role: [r.first_audio_s for _, batch in rows for r in batch] for role, rows in many.items()
    }
    label = TEXT_LABELS[text_id]
    c = plan.concurrency
    return [
        summary_figure(f"{base}.c1.first_audio", group, f"{label}: first audio, median",
                       first, "median", failures=fail_one, note=note),
        summary_figure(f"{base}.c1.total", group, f"{label}: total, median", total, "median"),
        summary_figure(f"{base}.c{c}.first_audio.median", group,
                       f"{label}, {c} clients: first audio, median", first_many, "median",
                       failures=fail_many),
        summary_figure(f"{base}.c{c}.first_audio.p95", group,
                       f"{label}, {c} clients: first audio, p95", first_many, "p95"),
    ]  # fmt: skip


async def run_tts(targets: Sequence[Target], plan: TtsPlan, out: list[Figure]) -> None:
    """Every TTS measurement, non-streaming first (HA's default), then streaming; appended to
    ``out`` as each finishes."""
    for streaming in (False, True):
        for text_id in TEXTS:
            out += await _measure(targets, text_id, streaming, plan)
