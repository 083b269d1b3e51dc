"""The PNG chart: every ratio ours/peer on a log axis, and ASR latency against concurrency.

Why a log axis: "half as long" (0.5×) and "twice as long" (2×) are equally far from parity.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from bench.figures import OURS, PEER, Figure


def draw_chart(figures: Sequence[Figure], path: Path, title: str) -> None:
    """Two panels: ratios (green = ours better), and p95 finish time vs number of ASR clients."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rated = [f for f in figures if f.ratio is not None and f.ratio > 0]
    height = max(4.0, 0.24 * len(rated) + 1.5)
    fig, (ax_ratio, ax_conc) = plt.subplots(
        1, 2, figsize=(15, height), gridspec_kw={"width_ratios": [1.8, 1]}
    )
    labels = [f.id + (" ↑" if f.higher_is_better else "") for f in rated]
    ratios = [f.ratio or 0.0 for f in rated]
    colors = [_color(r, f.higher_is_better) for f, r in zip(rated, ratios, strict=True)]
    ax_ratio.barh(range(len(rated)), ratios, color=colors)
    ax_ratio.set_yticks(range(len(rated)), labels, fontsize=7)
    ax_ratio.invert_yaxis()
    ax_ratio.set_xscale("log")
    ax_ratio.axvline(1.0, color="black", linewidth=0.8)
    ax_ratio.set_xlabel("ours / peer, log scale (< 1: ours faster or smaller; ↑: higher is better)")
    ax_ratio.set_title(title)

    for mode, style in (("realtime", "-"), ("burst", "--")):
        pattern = re.compile(rf"^asr\.{mode}\.c(\d+)\.p95$")
        points = sorted(
            (int(m.group(1)), f) for f in figures if (m := pattern.match(f.id)) is not None
        )
        for role, color in ((OURS, "tab:blue"), (PEER, "tab:orange")):
            xs = [n for n, f in points if f.values.get(role) is not None]
            ys = [f.values[role] for n, f in points if f.values.get(role) is not None]
            if xs:
                ax_conc.plot(xs, ys, style, marker="o", color=color, label=f"{role}, {mode}")
    ax_conc.set_xscale("log", base=2)
    ax_conc.set_xticks([1, 2, 4, 8], ["1", "2", "4", "8"])
    ax_conc.set_xlabel("ASR clients at once")
    ax_conc.set_ylabel("audio-stop -> transcript, p95 (s)")
    ax_conc.set_title("ASR p95 vs concurrency")
    if ax_conc.lines:
        ax_conc.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _color(ratio: float, higher_is_better: bool) -> str:
    """Green when ours is better by more than 2 %, red when worse by more, grey in between."""
    if abs(ratio - 1) <= 0.02:
        return "tab:gray"
    better = ratio > 1 if higher_is_better else ratio < 1
    return "tab:green" if better else "tab:red"
