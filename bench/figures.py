"""Figures (one row of the report) and the pair-by-pair scheduling every measurement uses.

Why interleave: this machine is shared and its load drifts over minutes. Each request (or round of
concurrent requests) goes to ours and then to the peer back to back, alternating who goes first,
so both sides of a ratio see the same load; one server at a time, never both at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bench.stats import median, percentile, ratio

_LOGGER = logging.getLogger(__name__)

OURS = "ours"
PEER = "peer"
ROLES = (OURS, PEER)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Target:
    """A started server as the measurements see it."""

    role: str
    """"ours" or "peer"."""
    name: str
    host: str
    port: int
    info: dict


@dataclass
class Figure:
    """One row of the report: a summary of samples for ours and for the peer."""

    id: str
    group: str
    label: str
    unit: str
    """"s", "%", "req/s" or "MB" (the report formats by unit)."""
    values: dict[str, float | None]
    samples: dict[str, list] = field(default_factory=dict)
    """Raw samples per role (seconds, or the transcripts for WER), kept in results.json."""
    failures: dict[str, int] = field(default_factory=dict)
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / peer for this figure (from the same run)."""
        return ratio(self.values.get(OURS), self.values.get(PEER))

    def as_dict(self) -> dict:
        """JSON form, with the ratio included."""
        return {
            "id": self.id,
            "group": self.group,
            "label": self.label,
            "unit": self.unit,
            "values": self.values,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "samples": self.samples,
            "failures": self.failures,
            "note": self.note,
        }


def summary_figure(
    fid: str,
    group: str,
    label: str,
    samples: dict[str, list[float]],
    how: str,
    *,
    unit: str = "s",
    failures: dict[str, int] | None = None,
    note: str = "",
) -> Figure:
    """A figure whose value per role is the ``how`` ("median" or "p95") of its samples."""
    values: dict[str, float | None] = {}
    for role in ROLES:
        got = samples.get(role)
        if not got:
            values[role] = None
        elif how == "median":
            values[role] = median(got)
        elif how == "p95":
            values[role] = percentile(got, 95)
        else:
            raise ValueError(f"unknown summary {how!r}")
    return Figure(
        id=fid,
        group=group,
        label=label,
        unit=unit,
        values=values,
        samples={r: list(v) for r, v in samples.items()},
        failures=dict(failures or {}),
        note=note,
    )


async def interleaved(
    targets: Sequence[Target],
    items: Sequence[T],
    run: Callable[[Target, T], Awaitable[R]],
) -> tuple[dict[str, list[tuple[T, R]]], dict[str, int]]:
    """Run ``run(target, item)`` for every item on every target, pair by pair, alternating order.

    A failed call is logged and counted, never fatal: one bad answer must not lose the whole run.
    Returns the successful (item, result) pairs and the failure count per role.
    """
    results: dict[str, list[tuple[T, R]]] = {t.role: [] for t in targets}
    failures: dict[str, int] = {t.role: 0 for t in targets}
    for index, item in enumerate(items):
        order = list(targets) if index % 2 == 0 else list(reversed(targets))
        for target in order:
            try:
                results[target.role].append((item, await run(target, item)))
            except Exception as err:  # noqa: BLE001 - counted and reported per figure
                failures[target.role] += 1
                _LOGGER.warning("%s failed on %s: %r", target.name, _label(item), err)
    return results, failures


def _label(item: object) -> str:
    """Short description of a work item for log lines."""
    return str(getattr(item, "name", item))[:60]
