"""The service's Prometheus metrics, on a registry of its own.

Counters the capture sources and the core already keep (packets, bytes, decode errors, open
dialogs and calls, spool depth) are read when ``/metrics`` is scraped, so the figures are the
sources' own and cannot drift from them. What only the service sees is counted as it happens:
the core's outputs (events, calls, verdicts, breaches) as plain integers in a :class:`Tally`
(a ``prometheus_client`` counter takes a lock per increment, a cost paid per leg event at line
rate), the store's latency in a histogram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from callwatch.capture.stats import CaptureStats
from callwatch.gcwatch import BUCKETS as GC_BUCKETS
from callwatch.gcwatch import GcWatch

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass(slots=True)
class Tally:
    """The service's counts of the core's outputs, read at scrape time.

    Written on the event loop's thread only; :meth:`Metrics.render` runs there too.
    """

    events: dict[str, int] = field(default_factory=dict)
    """Leg events by kind."""
    calls: dict[str, int] = field(default_factory=dict)
    """Finished calls by completeness (``"true"``/``"false"``)."""
    verdicts: dict[tuple[str, str], int] = field(default_factory=dict)
    """Verdicts by rule and outcome (``"true"``/``"false"``)."""
    breaches: dict[str, int] = field(default_factory=dict)
    """Breaches by rule."""
    sink_items: dict[str, int] = field(default_factory=dict)
    """Items handed to each sink, by sink name."""

    def count_verdicts(self, verdicts: Iterable[object]) -> None:
        """Count verdicts (objects with ``rule`` and ``ok``) and the breaches among them."""
        counts = self.verdicts
        for v in verdicts:
            rule = str(getattr(v, "rule", "unknown"))
            ok = bool(getattr(v, "ok", True))
            key = (rule, "true" if ok else "false")
            counts[key] = counts.get(key, 0) + 1
            if not ok:
                self.breaches[rule] = self.breaches.get(rule, 0) + 1


@dataclass(slots=True)
class Snapshot:
    """Figures read from the running parts at scrape time."""

    sources: dict[str, CaptureStats] = field(default_factory=dict)
    parse_errors: dict[str, int] = field(default_factory=dict)
    clock_refused: dict[str, int] = field(default_factory=dict)
    dialogs_open: int = 0
    calls_open: int = 0
    callbacks_open: int = 0
    spool_depth: dict[str, int] = field(default_factory=dict)
    stored: int | None = None
    published: dict[str, int] = field(default_factory=dict)
    publish_dropped: int = 0
    broker_connected: bool | None = None
    broker_latency: tuple[Sequence[float], Sequence[int], float] | None = None
    """Bucket upper bounds (s), counts per bucket (the last is +Inf) and the sum."""
    kernel_drops: dict[str, int] = field(default_factory=dict)
    """Datagrams or frames the kernel dropped before they were read, by source."""
    sink_queued: dict[str, int] = field(default_factory=dict)
    sink_failures: dict[str, int] = field(default_factory=dict)
    """Failed deliveries (each retried), by sink."""
    gc_pauses: GcWatch | None = None


class _TallyCollector(Collector):
    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def collect(self) -> Iterator[Metric]:
        tally = self._tally
        yield _labelled(
            CounterMetricFamily,
            "callwatch_events",
            "Leg events out of the core, by kind",
            "event",
            tally.events,
        )
        yield _labelled(
            CounterMetricFamily,
            "callwatch_calls",
            "Customer calls finished, by completeness",
            "complete",
            tally.calls,
        )
        verdicts = CounterMetricFamily(
            "callwatch_verdicts", "Charter verdicts, by rule and outcome", labels=["rule", "ok"]
        )
        for (rule, ok), n in dict(tally.verdicts).items():
            verdicts.add_metric([rule, ok], n)
        yield verdicts
        yield _labelled(
            CounterMetricFamily,
            "callwatch_breaches",
            "Charter breaches, by rule",
            "rule",
            tally.breaches,
        )
        yield _labelled(
            CounterMetricFamily,
            "callwatch_sink_items",
            "Items handed to a sink, by sink",
            "sink",
            tally.sink_items,
        )


class _LiveCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        frames = CounterMetricFamily(
            "callwatch_frames", "Datagrams or frames received, by source", labels=["source"]
        )
        packets = CounterMetricFamily(
            "callwatch_packets", "SIP packets handed to the core, by source", labels=["source"]
        )
        size = CounterMetricFamily(
            "callwatch_bytes", "Bytes received, by source", labels=["source"]
        )
        errors = CounterMetricFamily(
            "callwatch_decode_errors",
            "Input refused as broken, by source and kind",
            labels=["source", "kind"],
        )
        skipped = CounterMetricFamily(
            "callwatch_skipped",
            "Input skipped as not SIP, by source and kind",
            labels=["source", "kind"],
        )
        for name, stats in snap.sources.items():
            frames.add_metric([name], stats.frames)
            packets.add_metric([name], stats.packets)
            size.add_metric([name], stats.bytes)
            for kind, n in stats.errors.items():
                errors.add_metric([name, kind], n)
            for kind, n in stats.skipped.items():
                skipped.add_metric([name, kind], n)
        for kind, n in snap.parse_errors.items():
            errors.add_metric(["sip", kind], n)
        for kind, n in snap.clock_refused.items():
            errors.add_metric(["clock", kind], n)
        yield from (frames, packets, size, errors, skipped)
        yield _labelled(
            CounterMetricFamily,
            "callwatch_kernel_drops",
            "Datagrams or frames the kernel dropped before callwatch read them, by source",
            "source",
            snap.kernel_drops,
        )
        yield _gauge("callwatch_dialogs_open", "SIP dialogs being tracked", snap.dialogs_open)
        yield _gauge("callwatch_calls_open", "Customer calls not yet finished", snap.calls_open)
        yield _gauge(
            "callwatch_callbacks_open", "Missed calls awaiting a callback", snap.callbacks_open
        )
        yield _labelled(
            GaugeMetricFamily,
            "callwatch_spool_depth",
            "Items waiting in the on-disk spool, by sink",
            "sink",
            snap.spool_depth,
        )
        yield _labelled(
            GaugeMetricFamily,
            "callwatch_sink_queued",
            "Items waiting for a sink (in memory or in backlog files), by sink",
            "sink",
            snap.sink_queued,
        )
        yield _labelled(
            CounterMetricFamily,
            "callwatch_sink_failures",
            "Failed deliveries to a sink (each retried), by sink",
            "sink",
            snap.sink_failures,
        )
        if snap.gc_pauses is not None:
            pauses = HistogramMetricFamily(
                "callwatch_gc_pause_seconds",
                "Garbage collector pauses of the service process, by generation",
                labels=["generation"],
            )
            watch = snap.gc_pauses
            for generation in range(3):
                pauses.add_metric(
                    [str(generation)],
                    _buckets(GC_BUCKETS, watch.counts[generation]),
                    watch.sums[generation],
                )
            yield pauses
        if snap.stored is not None:
            yield CounterMetricFamily(
                "callwatch_stored_items", "Items committed to the database", value=snap.stored
            )
        if snap.broker_connected is not None:
            yield _gauge(
                "callwatch_broker_connected",
                "1 while the MQTT broker is connected",
                1 if snap.broker_connected else 0,
            )
            yield _labelled(
                CounterMetricFamily,
                "callwatch_published",
                "MQTT messages acknowledged by the broker, by kind",
                "kind",
                snap.published,
            )
            yield CounterMetricFamily(
                "callwatch_publish_dropped",
                "MQTT messages dropped (spool full)",
                value=snap.publish_dropped,
            )
        if snap.broker_latency is not None:
            bounds, counts, total = snap.broker_latency
            yield HistogramMetricFamily(
                "callwatch_broker_latency_seconds",
                "Time from submit to the broker's acknowledgement",
                buckets=_buckets(bounds, counts),
                sum_value=total,
            )


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets from per-bucket ``counts`` (the last one is +Inf)."""
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip((*bounds, float("inf")), counts, strict=True):
        running += n
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
    return buckets


def _labelled(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    doc: str,
    label: str,
    values: dict[str, int],
) -> Metric:
    """A counter or gauge family with one sample per ``values`` entry, labelled by its key."""
    out = family(name, doc, labels=[label])
    for key, n in dict(values).items():
        out.add_metric([key], n)
    return out


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class Metrics:
    """The registry, the service's :class:`Tally` and the store's latency histogram."""

    def __init__(self, snapshot: Callable[[], Snapshot] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.tally = Tally()
        self.registry.register(_TallyCollector(self.tally))
        self.store_latency = Histogram(
            "callwatch_store_latency_seconds",
            "Time to write one batch to the store",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        if snapshot is not None:
            self.registry.register(_LiveCollector(snapshot))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
