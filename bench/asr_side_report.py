"""The side-by-side speech-to-text bench's scoring and report (issue 20): each request as a
record, the word and name error rates, the latency percentiles, the words heard in non-speech,
issue 20's goals, the items where ours did worse, and the markdown.

Apart from the command (``bench/asr_side_by_side.py``), which starts the servers and fills the
records: this is arithmetic on transcripts and clock readings, with no server to run, so it is
tested on made-up records (``tests/bench/test_asr_side_by_side.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.asr_names import heard, names_in
from bench.asr_side_corpus import NOISY, NON_SPEECH, QUIET, SPEECH_SUBSETS, STEREO, TELEPHONE
from bench.figures import OURS, PEER, ROLES
from bench.stats import median, percentile, ratio
from bench.wer import normalize, word_errors

ALL = "all"
"""The pooled row: every speech subset together."""
LABELS = {
    QUIET: "quiet (16 kHz mono, -60 dBFS room)",
    NOISY: "noisy (pink/brown noise, 20 dB SNR)",
    TELEPHONE: "telephone (8 kHz, 300-3400 Hz)",
    STEREO: "44.1 kHz stereo",
    ALL: "all pooled",
}

GOAL_WER_RATIO = 0.8
GOAL_STOP_P50_S = 0.100


@dataclass
class Record:
    """One request to one server as the client saw it."""

    role: str
    utterance: str
    subset: str
    reference: str
    text: str = ""
    finish_s: float | None = None
    """audio-stop written -> transcript read (None when the request failed)."""
    error: str = ""
    first: bool = False
    """This server got the utterance before the other one."""


@dataclass
class Run:
    """Everything one run produced."""

    records: list[Record] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _rows_by(records: Sequence[Record], role: str, subset: str) -> list[Record]:
    if subset == ALL:
        return [r for r in records if r.role == role and r.subset in SPEECH_SUBSETS]
    return [r for r in records if r.role == role and r.subset == subset]


def wer_table(records: Sequence[Record], names: Sequence[str]) -> list[dict[str, Any]]:
    """Per speech subset and pooled: WER and the home's name error rate, ours and the peer's."""
    rows = []
    for subset in (*SPEECH_SUBSETS, ALL):
        row: dict[str, Any] = {"subset": subset}
        for role in ROLES:
            mine = _rows_by(records, role, subset)
            errors = words = said = missed = 0
            for r in mine:
                e, n = word_errors(r.reference, r.text)
                errors, words = errors + e, words + n
                for name in names_in(r.reference, list(names)):
                    said += 1
                    missed += not heard(name, r.text)
            row[role] = {
                "utterances": len(mine),
                "words": words,
                "errors": errors,
                "wer": errors / words if words else None,
                "names_said": said,
                "names_missed": missed,
                "name_error_rate": missed / said if said else None,
                "failed": sum(1 for r in mine if r.finish_s is None),
            }
        row["wer_ratio"] = ratio(row[OURS]["wer"], row[PEER]["wer"])
        rows.append(row)
    return rows


def latency_table(records: Sequence[Record]) -> list[dict[str, Any]]:
    """audio-stop -> transcript p50 (median) and p90 (nearest rank) per subset, in seconds."""
    rows = []
    for subset in (*SPEECH_SUBSETS, ALL, NON_SPEECH):
        row: dict[str, Any] = {"subset": subset}
        for role in ROLES:
            times = [r.finish_s for r in _rows_by(records, role, subset) if r.finish_s is not None]
            row[role] = {
                "count": len(times),
                "p50": median(times) if times else None,
                "p90": percentile(times, 90) if times else None,
            }
        row["p50_ratio"] = ratio(row[OURS]["p50"], row[PEER]["p50"])
        rows.append(row)
    return rows


def non_speech_table(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Per non-speech clip: the words each server returned and its transcript."""
    clips = list(dict.fromkeys(r.utterance for r in records if r.subset == NON_SPEECH))
    rows = []
    for clip in clips:
        row: dict[str, Any] = {"clip": clip}
        for role in ROLES:
            got = [r for r in records if r.utterance == clip and r.role == role]
            row[role] = {
                "words": sum(len(normalize(r.text)) for r in got),
                "texts": [r.error or r.text for r in got],
            }
        rows.append(row)
    return rows


def goals(
    wer_rows: Sequence[dict[str, Any]],
    latency_rows: Sequence[dict[str, Any]],
    ns_rows: Sequence[dict[str, Any]],
) -> list[tuple[str, str, bool | None]]:
    """Issue 20's goals: (goal, what this run measured, met; None when not measured)."""
    wer = {row["subset"]: row for row in wer_rows}
    lat = {row["subset"]: row for row in latency_rows}
    out: list[tuple[str, str, bool | None]] = []
    pooled = wer[ALL]
    ours, peer = pooled[OURS]["wer"], pooled[PEER]["wer"]
    met = None if ours is None or peer is None else ours <= GOAL_WER_RATIO * peer
    out.append(
        (
            f"pooled WER <= {GOAL_WER_RATIO} x the peer's",
            f"{_pct(ours)} vs {_pct(peer)} (ratio {_ratio(pooled['wer_ratio'])})",
            met,
        )
    )
    for subset in (NOISY, TELEPHONE):
        ours, peer = wer[subset][OURS]["wer"], wer[subset][PEER]["wer"]
        met = None if ours is None or peer is None else ours <= peer
        out.append((f"{subset} WER no worse than the peer's", f"{_pct(ours)} vs {_pct(peer)}", met))
    words = sum(row[OURS]["words"] for row in ns_rows)
    peer_words = sum(row[PEER]["words"] for row in ns_rows)
    out.append(
        (
            "0 words from non-speech",
            f"{words} words from {len(ns_rows)} clips (peer {peer_words})",
            words == 0 if ns_rows else None,
        )
    )
    p50 = lat[ALL][OURS]["p50"]
    out.append(
        (
            f"audio-stop -> transcript p50 <= {GOAL_STOP_P50_S * 1000:.0f} ms",
            f"{_ms(p50)} ms",
            None if p50 is None else p50 <= GOAL_STOP_P50_S,
        )
    )
    return out


def worse_items(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Speech utterances where ours made more word errors than the peer, worst first."""
    by: dict[tuple[str, str], Record] = {(r.utterance, r.role): r for r in records}
    out = []
    for (name, role), r in by.items():
        if role != OURS or r.subset not in SPEECH_SUBSETS or (name, PEER) not in by:
            continue
        peer = by[(name, PEER)]
        ours_e, _ = word_errors(r.reference, r.text)
        peer_e, _ = word_errors(r.reference, peer.text)
        if ours_e > peer_e:
            out.append(
                {
                    "utterance": name,
                    "subset": r.subset,
                    "reference": r.reference,
                    "ours": r.error or r.text,
                    "peer": peer.error or peer.text,
                    "ours_errors": ours_e,
                    "peer_errors": peer_e,
                }
            )
    return sorted(out, key=lambda w: (w["peer_errors"] - w["ours_errors"], w["utterance"]))


def _said(texts: Sequence[str], width: int = 70) -> str:
    """Transcripts for a table cell: quoted, a long one cut (the JSON keeps it whole)."""
    return " / ".join(repr(t if len(t) <= width else t[:width] + "...") for t in texts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(
    header: Sequence[str],
    wer_rows: Sequence[dict[str, Any]],
    latency_rows: Sequence[dict[str, Any]],
    ns_rows: Sequence[dict[str, Any]],
    worse: Sequence[dict[str, Any]],
    show_worse: int = 12,
) -> str:
    """The markdown report."""
    lines = [*header, ""]
    lines += [
        "| subset | utterances | ref words | WER ours | WER peer | ours/peer "
        "| names missed ours | names missed peer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in wer_rows:
        o, p = row[OURS], row[PEER]
        fails = f" ({o['failed']}/{p['failed']} failed)" if o["failed"] or p["failed"] else ""
        lines.append(
            f"| {LABELS[row['subset']]} | {o['utterances']}{fails} | {o['words']} "
            f"| {_pct(o['wer'])} | {_pct(p['wer'])} | {_ratio(row['wer_ratio'])} "
            f"| {o['names_missed']}/{o['names_said']} ({_pct(o['name_error_rate'])}) "
            f"| {p['names_missed']}/{p['names_said']} ({_pct(p['name_error_rate'])}) |"
        )
    lines += [
        "",
        "| audio-stop -> transcript, ms | n | p50 ours | p50 peer | ours/peer | p90 ours "
        "| p90 peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in latency_rows:
        o, p = row[OURS], row[PEER]
        label = LABELS.get(row["subset"], "non-speech, 10 s clips")
        lines.append(
            f"| {label} | {o['count']} | {_ms(o['p50'])} | {_ms(p['p50'])} "
            f"| {_ratio(row['p50_ratio'])} | {_ms(o['p90'])} | {_ms(p['p90'])} |"
        )
    lines += [
        "",
        "| non-speech clip | words ours | words peer | ours said | peer said |",
        "|---|---|---|---|---|",
    ]
    for row in ns_rows:
        o, p = row[OURS], row[PEER]
        lines.append(
            f"| {row['clip']} | {o['words']} | {p['words']} "
            f"| {_said(o['texts'])} | {_said(p['texts'])} |"
        )
    lines += ["", "Goals (issue 20):", ""]
    for goal, measured, met in goals(wer_rows, latency_rows, ns_rows):
        mark = "not measured" if met is None else ("met" if met else "NOT met")
        lines.append(f"- {goal}: {measured}: **{mark}**")
    lines += ["", f"Where ours made more word errors than the peer ({len(worse)} utterances):", ""]
    if not worse:
        lines.append("- none")
    for w in worse[:show_worse]:
        lines.append(
            f"- {w['utterance']} ({w['subset']}) {w['reference']!r}: ours "
            f"{w['ours']!r} ({w['ours_errors']}), peer {w['peer']!r} ({w['peer_errors']})"
        )
    if len(worse) > show_worse:
        lines.append(f"- ... {len(worse) - show_worse} more in asr_side_by_side.json")
    return "\n".join(lines)
