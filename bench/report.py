"""The report: machine header, one markdown table per group (ours, peer, ours/peer), goals, a chart.

Why ratios next to absolute numbers: on a shared 2-core machine the absolute times move with the
other tenants' load, while a ratio taken pair by pair in the same run is stable enough to check
the goals of DESIGN §7 against.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.figures import OURS, PEER, Figure


@dataclass(frozen=True)
class Goal:
    """A DESIGN §7 goal: ``figure``'s ratio ours/peer at most ``limit`` (or, when ``absolute``,
    our own value in seconds at most ``limit``)."""

    figure: str
    limit: float
    text: str
    absolute: bool = False


GOALS = (
    Goal("asr.realtime.c1.command.median", 1 / 3,
         "ASR finish after end of speech <= 1/3 of the peer's (commands, real-time, median)"),
    Goal("asr.realtime.c4.p95", 1 / 2, "4-client ASR p95 <= 1/2 of the peer's (real-time)"),
    Goal("tts.synthesize.short.c1.first_audio", 1 / 2,
         "TTS first audio <= 1/2 of the peer's non-streaming figure (short reply)"),
    Goal("tts.synthesize.long.c1.first_audio", 1 / 2,
         "TTS first audio <= 1/2 of the peer's non-streaming figure (answer)"),
    Goal("tts.streaming.short.c1.first_audio", 1.0, "TTS first audio streaming no worse (short)"),
    Goal("tts.streaming.long.c1.first_audio", 1.0, "TTS first audio streaming no worse (answer)"),
    Goal("turn.local.audio-chunk", 0.7,
         "local command: first answer audio <= 700 ms after end of speech (ours)", absolute=True),
)  # fmt: skip


def format_value(value: float | None, unit: str) -> str:
    """Human units: milliseconds below 10 s, one decimal for %, two for req/s, whole MB."""
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "req/s":
        return f"{value:.2f} req/s"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.3g} {unit}"


def format_ratio(figure: Figure) -> str:
    """ours/peer as "0.42×", "—" when either side is missing."""
    r = figure.ratio
    return "—" if r is None else f"{r:.2f}×"


def _cell(figure: Figure, role: str) -> str:
    text = format_value(figure.values.get(role), figure.unit)
    failed = figure.failures.get(role, 0)
    return f"{text} ({failed} failed)" if failed else text


def markdown_tables(figures: Sequence[Figure], peer_names: dict[str, str]) -> str:
    """One table per group, in first-seen order; the peer's name in each group heading."""
    groups: dict[str, list[Figure]] = {}
    for figure in figures:
        groups.setdefault(figure.group, []).append(figure)
    out: list[str] = []
    for group, rows in groups.items():
        peer = peer_names.get(group.split(",")[0], "peer")
        out += [f"### {group} (peer: {peer})", "", "| figure | ours | peer | ours/peer |",
                "|---|---:|---:|---:|"]  # fmt: skip
        for f in rows:
            better = " ↑" if f.higher_is_better else ""
            out.append(f"| {f.label}{better} | {_cell(f, OURS)} | {_cell(f, PEER)} | "
                       f"{format_ratio(f)} |")  # fmt: skip
        notes = sorted({f.note for f in rows if f.note})
        out += [*(f"\n_{n}_" for n in notes), ""]
    return "\n".join(out)


def goals_table(figures: Sequence[Figure]) -> str:
    """DESIGN §7 goals against this run's ratios."""
    by_id = {f.id: f for f in figures}
    lines = ["| goal (DESIGN §7) | this run | limit | met |", "|---|---:|---:|---|"]
    for goal in GOALS:
        figure = by_id.get(goal.figure)
        if figure is None:
            got = None
        else:
            got = figure.values.get(OURS) if goal.absolute else figure.ratio
        if got is None:
            shown, met = "—", "—"
        else:
            shown = format_value(got, "s") if goal.absolute else f"{got:.2f}×"
            met = "yes" if got <= goal.limit else "no"
        limit = format_value(goal.limit, "s") if goal.absolute else f"{goal.limit:.2f}×"
        lines.append(f"| {goal.text} | {shown} | ≤ {limit} | {met} |")
    return "\n".join(lines)


def machine_details(device: str) -> dict:
    """CPU, cores, memory, OS, Python (and the GPU on a CUDA run), for the report header."""
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    details = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    if device.startswith("cuda"):
        try:
            details["gpu"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                 "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=True,
            ).stdout.strip()  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            details["gpu"] = "unknown (nvidia-smi failed)"
    return details


def render(meta: dict, figures: Sequence[Figure], notes: Sequence[str]) -> str:
    """The whole report.md."""
    m = meta["machine"]
    header = [
        f"# wyoming-rtx side by side with the peer servers ({meta['started']})",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GiB, {m['os']}, "
        f"Python {m['python']}" + (f", GPU {m['gpu']}" if "gpu" in m else "") + "  ",
        f"Load average (1 min) at start {meta['load_start']:.2f}, at end {meta['load_end']:.2f} "
        "(other tenants share these cores: read the ratios, not the absolute times)  ",
        f"Device: {meta['device']}; ASR model `{meta['asr_model']}`; voice `{meta['voice']}`; "
        f"beam size {meta['beam_size']}, compute type {meta['compute_type']}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "  ",
        f"Mode: {'quick' if meta['quick'] else 'full'}, {meta['duration_s']:.0f} s. Medians over "
        "repeats; each request goes to ours and the peer back to back (alternating order), one "
        "server at a time.",
        "",
    ]
    body = markdown_tables(figures, meta["peer_names"])
    goals = ["## Goals", "", goals_table(figures), ""]
    note_lines = ["## Notes", "", *(f"- {n}" for n in notes), ""] if notes else []
    return "\n".join([*header, "## Figures", "", body, *goals, *note_lines])


def write_results(
    out_dir: Path, meta: dict, figures: Sequence[Figure], notes: Sequence[str]
) -> str:
    """Write report.md, results.json and chart.png into ``out_dir``; return the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = render(meta, figures, notes)
    (out_dir / "report.md").write_text(markdown)
    payload = {"meta": meta, "figures": [f.as_dict() for f in figures], "notes": list(notes)}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1) + "\n")
    from bench.chart import draw_chart  # matplotlib is slow to import; only when writing

    draw_chart(figures, out_dir / "chart.png", title=f"ours / peer ({meta['started']})")
    return markdown
