"""Prometheus metrics for every request and turn, on every path, with `prometheus_client`.

Each server gets its own `CollectorRegistry` (never the library's global one), so tests and
several servers in one process stay apart. Counts come from the TraceLog: a request is counted
the moment it finishes (`wyoming_rtx_requests_total{service, entry, outcome}`) and its own
latency observed; a finished turn adds its stage times from the end of speech. Home Assistant's
separate requests, direct satellites and the browser all report through the same TraceLog, so
one series covers every path. Live gauges are read when `/metrics` is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..pipeline.trace import ENTRIES, LATENCY_BUCKETS, SERVICES, TraceLog, TurnTrace

# Only `_total` per counter: the `_created` timestamps say nothing a scrape needs.
prometheus_client.disable_created_metrics()

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

HISTOGRAM_STAGES = ("transcript", "answer_text", "first_audio", "last_audio")
"""Stages timed from the end of speech (`played` arrives after a turn finishes, so it is not
known when the listener runs)."""

GaugeSource = tuple[str, Callable[[], float]]
"""(help text, a function read at scrape time)."""


class Metrics:
    """One server's registry: request and turn series fed by the TraceLog, plus live gauges."""

    def __init__(
        self,
        traces: TraceLog,
        gauges: Mapping[str, GaugeSource] | None = None,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "wyoming_rtx_requests",
            "Finished speech-to-text (asr), conversation (handle) and text-to-speech (tts) "
            "requests, on every path.",
            ["service", "entry", "outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "wyoming_rtx_request_seconds",
            "Our own time per answered request: asr audio-stop to transcript, handle request "
            "to answer text, tts request to first audio.",
            ["service", "entry"],
            buckets=buckets,
            registry=registry,
        )
        self.stages = Histogram(
            "wyoming_rtx_turn_stage_seconds",
            "Seconds from the end of speech to each stage of a turn.",
            ["stage", "entry"],
            buckets=buckets,
            registry=registry,
        )
        self.turns = Counter(
            "wyoming_rtx_turns",
            "Finished turns by outcome (done, not-handled, cancelled, error) and answer source.",
            ["entry", "outcome", "source"],
            registry=registry,
        )
        self.errors = Counter(
            "wyoming_rtx_turn_errors", "Turns that ended with an error.", registry=registry
        )
        for entry in ENTRIES:  # every series exists from the first scrape, at zero
            for service in SERVICES:
                self.requests.labels(service, entry, "ok")
                self.request_seconds.labels(service, entry)
            for stage in HISTOGRAM_STAGES:
                self.stages.labels(stage, entry)
        for name, (help_text, read) in (gauges or {}).items():
            Gauge(name, help_text, registry=registry).set_function(read)
        self._unsubscribe = [
            traces.subscribe(self.observe),
            traces.subscribe_requests(self.observe_request),
        ]

    def close(self) -> None:
        """Stop listening (the TraceLog outlives the web server in tests)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def observe_request(
        self, trace: TurnTrace, service: str, outcome: str, seconds: float | None
    ) -> None:
        """TraceLog listener: one finished request."""
        self.requests.labels(service, trace.entry, outcome).inc()
        if seconds is not None:
            self.request_seconds.labels(service, trace.entry).observe(seconds)

    def observe(self, trace: TurnTrace) -> None:
        """TraceLog listener: one finished turn."""
        self.turns.labels(trace.entry, trace.outcome, trace.source or "none").inc()
        if trace.outcome == "error":
            self.errors.inc()
        for stage in HISTOGRAM_STAGES:
            seconds = trace.since_end_of_speech(stage)
            if seconds is not None:
                self.stages.labels(stage, trace.entry).observe(max(0.0, seconds))

    def render(self) -> bytes:
        """The whole exposition, gauges read now."""
        return generate_latest(self.registry)
