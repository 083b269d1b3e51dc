"""The end-of-turn bench's scoring (issue 19): finished turns as records, their statistics
(p50/p95, ended early, words lost, WER), the goals and the markdown report.

Apart from the rig (``bench/turn_rig.py``) and the command (``bench/end_of_turn.py``): it is
arithmetic on the rig's clock readings and the server's trace, with no server or satellite to
run, so its rules (what counts as cut off, over which turns each figure is taken) are tested on
made-up numbers (``tests/bench/test_end_of_turn_bench.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import median, percentile
from bench.turn_corpus import Item
from bench.turn_rig import Config, TurnStamps
from bench.wer import corpus_wer, normalize


@dataclass
class TurnRecord:
    """One turn as measured: seconds after the true end of speech unless said otherwise."""

    config: str
    item: str
    kind: str
    route: str
    voice: str
    noise: str
    text: str
    transcript: str
    answer: str
    source: str
    """The server trace's answer source (local, llm, ...)."""
    server_end: str
    """The trace's ``end_of_turn`` (who ended the turn), where the server records it."""
    llm_requests: int
    speech_end_s: float
    """True end of speech, from the item's first sample."""
    pause_start_s: float | None
    pause_end_s: float | None
    after_pause: str
    ended_at_s: float | None
    """End of the turn from the item's first sample: audio-stop sent or voice-stopped heard."""
    ended_by: str
    """``satellite:<reason>`` or ``server`` (voice-stopped came first)."""
    endpoint_s: float | None
    first_sound_s: float | None
    """True end of speech -> first answer audio at the speaker sink."""
    first_chunk_s: float | None
    """True end of speech -> first answer ``audio-chunk`` received."""
    transcript_s: float | None
    error: str = ""
    draft: str = ""
    """The trace's ``draft``: an LLM answer started before the turn ended was ``kept`` (the
    final transcript said the same words) or ``dropped``; "" when none was started."""

    @property
    def cut_off(self) -> bool:
        return is_cut_off(self.ended_at_s, self.speech_end_s)

    @property
    def cut_in_pause(self) -> bool:
        return cut_in_pause(self.ended_at_s, self.pause_start_s, self.speech_end_s)

    @property
    def words_lost(self) -> bool:
        return bool(self.after_pause) and words_lost(self.transcript, self.after_pause)


def is_cut_off(ended_at_s: float | None, speech_end_s: float) -> bool:
    """The turn ended before the speaker had finished (its true end of speech)."""
    return ended_at_s is not None and ended_at_s < speech_end_s


def cut_in_pause(
    ended_at_s: float | None, pause_start_s: float | None, speech_end_s: float
) -> bool:
    """A hesitation's turn ended after the pause began and before the speech ended."""
    if ended_at_s is None or pause_start_s is None:
        return False
    return pause_start_s <= ended_at_s < speech_end_s


def words_lost(transcript: str, after_pause: str) -> bool:
    """The transcript lacks most (more than half) of the words said after the pause."""
    heard = set(normalize(transcript))
    words = normalize(after_pause)
    return bool(words) and sum(word in heard for word in words) * 2 < len(words)


def build_record(
    config: Config,
    item: Item,
    stamps: TurnStamps,
    transcript: str,
    answer: str,
    trace: dict[str, Any],
    llm_requests: int,
    error: str = "",
) -> TurnRecord:
    """Turn the clock readings into seconds after the item's true end of speech."""
    end_of_speech = stamps.t0 + item.speech_end_s

    def after(at: float | None) -> float | None:
        return None if at is None or not stamps.t0 else round(at - end_of_speech, 4)

    stopped = stamps.events.get("voice-stopped")
    candidates = [t for t in (stamps.ended, stopped) if t is not None]
    ended = min(candidates) if candidates else None
    if ended is None:
        ended_by = ""
    elif stopped is not None and ended == stopped:
        ended_by = "server"
    else:
        ended_by = f"satellite:{stamps.end_reason}"
    return TurnRecord(
        config=config.key,
        item=item.name,
        kind=item.kind,
        route=item.route,
        voice=item.voice,
        noise=item.noise,
        text=item.text,
        transcript=transcript,
        answer=answer,
        source=str(trace.get("source", "")),
        server_end=str(trace.get("end_of_turn", "")),
        draft=str(trace.get("draft", "")),
        llm_requests=llm_requests,
        speech_end_s=item.speech_end_s,
        pause_start_s=item.pause_start_s,
        pause_end_s=item.pause_end_s,
        after_pause=item.after_pause,
        ended_at_s=None if ended is None else round(ended - stamps.t0, 4),
        ended_by=ended_by,
        endpoint_s=after(ended),
        first_sound_s=after(stamps.first_sound),
        first_chunk_s=after(stamps.events.get("audio-chunk")),
        transcript_s=after(stamps.events.get("transcript")),
        error=error,
    )


@dataclass
class Summary:
    """One configuration and kind."""

    config: str
    kind: str
    turns: int
    errors: int
    local: int
    first_sound_ms: list[float]
    """Over the turns not cut off that produced sound."""
    endpoint_ms: list[float]
    """Over the turns not cut off (a cut-off turn's endpoint is negative)."""
    ended_early: int
    cut_in_pause: int
    words_lost: int
    wer: float | None

    def p50(self, values: Sequence[float]) -> float | None:
        return median(values) if values else None

    def p95(self, values: Sequence[float]) -> float | None:
        return percentile(values, 95) if values else None


def summarize(
    records: Sequence[TurnRecord], config: str, kind: str, only_local: bool = False
) -> Summary:
    """Statistics of ``config``'s turns of ``kind`` (``*`` for every kind); ``only_local``
    keeps the turns the intents answered (the local-command goal)."""
    rows = [r for r in records if r.config == config and kind in ("*", r.kind)]
    if only_local:
        rows = [r for r in rows if r.source == "local"]
    done = [r for r in rows if not r.error]
    sound = [r.first_sound_s * 1000 for r in done if r.first_sound_s is not None and not r.cut_off]
    endpoint = [r.endpoint_s * 1000 for r in done if r.endpoint_s is not None and not r.cut_off]
    pairs = [(r.text, r.transcript) for r in done]
    return Summary(
        config=config,
        kind=kind,
        turns=len(rows),
        errors=len(rows) - len(done),
        local=sum(r.source == "local" for r in done),
        first_sound_ms=sound,
        endpoint_ms=endpoint,
        ended_early=sum(r.cut_off for r in done),
        cut_in_pause=sum(r.cut_in_pause for r in done),
        words_lost=sum(r.words_lost for r in done),
        wer=corpus_wer(pairs) if pairs else None,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _share(count: int, total: int) -> str:
    return "-" if total == 0 else f"{count}/{total} ({100 * count / total:.0f} %)"


KIND_LABELS = {
    "command": "command",
    "hesitation": "hesitation (0.5-1.0 s)",
    "slow": "slow command",
    "question": "question (LLM)",
}


def goals(records: Sequence[TurnRecord], config: str) -> list[tuple[str, str, bool | None]]:
    """(goal, this run's figure, met) for one configuration; met is None without data."""
    local = summarize(records, config, "command", only_local=True)
    llm = summarize(records, config, "question")
    hes = summarize(records, config, "hesitation")
    slow = summarize(records, config, "slow")
    out: list[tuple[str, str, bool | None]] = []
    p50, p95 = local.p50(local.first_sound_ms), local.p95(local.first_sound_ms)
    out.append(("local command p50 <= 350 ms", _ms(p50), None if p50 is None else p50 <= 350))
    out.append(("local command p95 <= 500 ms", _ms(p95), None if p95 is None else p95 <= 500))
    q50 = llm.p50(llm.first_sound_ms)
    out.append(("LLM answer p50 <= 900 ms", _ms(q50), None if q50 is None else q50 <= 900))
    done = hes.turns - hes.errors
    rate = hes.ended_early / done if done else None
    out.append(
        (
            "hesitations cut off <= 2 %",
            "-" if rate is None else f"{100 * rate:.0f} %",
            None if rate is None else rate <= 0.02,
        )
    )
    slow_done = slow.turns - slow.errors
    out.append(
        (
            "no slow command ended early",
            f"{slow.ended_early}/{slow_done}",
            None if not slow_done else slow.ended_early == 0,
        )
    )
    return out


def report(records: Sequence[TurnRecord], configs: Sequence[Config], header: list[str]) -> str:
    lines = [
        *header,
        "",
        "| config | kind | turns | answered locally | first sound p50 | p95 | endpoint p50 "
        "| ended early | words after pause lost | WER |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in configs:
        for kind in ("command", "hesitation", "slow", "question"):
            s = summarize(records, config.key, kind)
            if not s.turns:
                continue
            done = s.turns - s.errors
            lost = _share(s.words_lost, done) if kind == "hesitation" else ""
            errors = f" ({s.errors} failed)" if s.errors else ""
            lines.append(
                f"| {config.label} | {KIND_LABELS[kind]} | {s.turns}{errors} "
                f"| {_share(s.local, done)} | {_ms(s.p50(s.first_sound_ms))} "
                f"| {_ms(s.p95(s.first_sound_ms))} | {_ms(s.p50(s.endpoint_ms))} "
                f"| {_share(s.ended_early, done)} | {lost} "
                f"| {'-' if s.wer is None else f'{100 * s.wer:.0f} %'} |"
            )
    lines += [
        "",
        "| goal | " + " | ".join(c.label for c in configs) + " |",
        "|---|" + "---|" * len(configs),
    ]
    per_config = [goals(records, c.key) for c in configs]
    for row, (goal, _, _) in enumerate(per_config[0] if per_config else []):
        cells = []
        for checks in per_config:
            _, figure, met = checks[row]
            cells.append(f"{figure} {'-' if met is None else ('met' if met else 'missed')}")
        lines.append(f"| {goal} | " + " | ".join(cells) + " |")
    for config in configs:
        questions = [
            r for r in records if r.config == config.key and r.kind == "question" and not r.error
        ]
        kept = sum(r.draft == "kept" for r in questions)
        if any(r.draft for r in questions):
            lines += [
                "",
                f"{config.label}: LLM drafts kept {kept}/{len(questions)} questions (the LLM "
                "and the first sentence started on the pause's fast transcript, before the "
                "turn ended); LLM requests per question: "
                f"{sum(r.llm_requests for r in questions)}/{len(questions)}.",
            ]
    lines += [
        "",
        "ms from the item's true end of speech. first sound: to the first answer audio at the "
        "satellite's speaker sink, and endpoint: to the end of the turn (audio-stop sent, or "
        "voice-stopped heard if sooner), both over the turns not ended early; ended early: the "
        "turn ended before the true end of speech (a hesitation cut off in its pause, a slow "
        "command cut between words); words after pause lost: the transcript lacks most of them;"
        " WER: the transcript against the text. The local-command goals count the plain "
        "commands the intents answered (a misheard name goes to the LLM).",
    ]
    return "\n".join(lines)
