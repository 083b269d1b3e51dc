"""Prometheus text exposition, written by hand from the finished-turn listener.

The format is small and stable (HELP/TYPE lines, cumulative `_bucket{le=...}` series, `_sum`
and `_count`), so a hand-written renderer avoids a dependency and a global registry: each
`App` gets its own `Metrics`, which keeps tests and several apps in one process apart.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..pipeline.trace import LATENCY_BUCKETS, TraceLog, TurnTrace

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HISTOGRAM_STAGES = ("transcript", "answer_text", "first_audio", "last_audio")
"""Stages timed from the end of speech (`played` arrives after a turn finishes, so it is not
known when the listener runs)."""


def escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline (exposition format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Mapping[str, str]) -> str:
    """`{a="x",b="y"}`, or nothing for no labels."""
    if not labels:
        return ""
    inner = ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def format_value(value: float) -> str:
    """Integers without a fraction; floats with repr precision; infinities as +Inf/-Inf."""
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class Histogram:
    """One labelled series of a histogram: per-bucket counts, kept non-cumulative."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: Mapping[str, str]) -> Iterable[str]:
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            series = format_labels({**labels, "le": format_value(bound)})
            yield f"{name}_bucket{series} {running}"
        yield f"{name}_sum{format_labels(labels)} {format_value(self.total)}"
        yield f"{name}_count{format_labels(labels)} {self.count}"


class Metrics:
    """Counts finished turns; renders them with the live gauges the caller supplies."""

    def __init__(self, traces: TraceLog, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self._buckets = buckets
        self.stages: dict[str, Histogram] = {
            stage: Histogram(buckets) for stage in HISTOGRAM_STAGES
        }
        self.turns: dict[tuple[str, str], int] = {}
        self.errors = 0
        self.started = time.time()
        self._unsubscribe: Callable[[], None] | None = traces.subscribe(self.observe)

    def close(self) -> None:
        """Stop listening (the TraceLog outlives the web server in tests)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def observe(self, trace: TurnTrace) -> None:
        """TraceLog listener: one finished turn."""
        key = (trace.outcome, trace.source or "none")
        self.turns[key] = self.turns.get(key, 0) + 1
        if trace.outcome == "error":
            self.errors += 1
        for stage, histogram in self.stages.items():
            seconds = trace.since_end_of_speech(stage)
            if seconds is not None:
                histogram.observe(max(0.0, seconds))

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """The whole exposition; `gauges` maps a metric name to (help, value)."""
        out: list[str] = []
        name = "wyoming_rtx_turn_stage_seconds"
        out.append(f"# HELP {name} Seconds from the end of speech to each stage of a turn.")
        out.append(f"# TYPE {name} histogram")
        for stage, histogram in self.stages.items():
            out.extend(histogram.lines(name, {"stage": stage}))

        name = "wyoming_rtx_turns_total"
        out.append(f"# HELP {name} Finished satellite and browser turns.")
        out.append(f"# TYPE {name} counter")
        for (outcome, source), count in sorted(self.turns.items()):
            out.append(f"{name}{format_labels({'outcome': outcome, 'source': source})} {count}")

        name = "wyoming_rtx_turn_errors_total"
        out.append(f"# HELP {name} Turns that ended with an error.")
        out.append(f"# TYPE {name} counter")
        out.append(f"{name} {self.errors}")

        for gauge, (help_text, value) in gauges.items():
            out.append(f"# HELP {gauge} {help_text}")
            out.append(f"# TYPE {gauge} gauge")
            out.append(f"{gauge} {format_value(value)}")
        return "\n".join(out) + "\n"
