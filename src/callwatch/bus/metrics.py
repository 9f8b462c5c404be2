"""Prometheus view of a :class:`~callwatch.bus.publisher.Publisher`'s counters.

``registry.register(PublisherCollector(publisher))`` exposes:

- ``callwatch_mqtt_published_total{kind}`` messages the broker acknowledged, by kind
- ``callwatch_mqtt_spooled_total`` messages that waited in the on-disk spool
- ``callwatch_mqtt_dropped_total`` messages lost to a full or failing spool
- ``callwatch_mqtt_reconnects_total`` connection attempts after the first
- ``callwatch_mqtt_connected`` 1 while connected
- ``callwatch_mqtt_spool_depth`` messages waiting in the spool now
- ``callwatch_mqtt_pending`` messages not yet acknowledged (memory, in flight, spool)
- ``callwatch_mqtt_publish_latency_seconds`` histogram, submit → PUBACK
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from callwatch.bus.publisher import LATENCY_BUCKETS, Publisher


class PublisherCollector(Collector):
    """Reads the publisher's counters at scrape time."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        stats = self.publisher.stats
        published = CounterMetricFamily(
            "callwatch_mqtt_published", "Messages acknowledged by the broker", labels=["kind"]
        )
        for kind, count in stats.published.items():
            published.add_metric([kind], count)
        yield published
        yield CounterMetricFamily(
            "callwatch_mqtt_spooled", "Messages that waited in the spool", value=stats.spooled
        )
        yield CounterMetricFamily(
            "callwatch_mqtt_dropped", "Messages lost to a full spool", value=stats.dropped
        )
        yield CounterMetricFamily(
            "callwatch_mqtt_reconnects", "Broker reconnect attempts", value=stats.reconnects
        )
        yield GaugeMetricFamily(
            "callwatch_mqtt_connected", "1 while connected", value=int(self.publisher.connected)
        )
        yield GaugeMetricFamily(
            "callwatch_mqtt_spool_depth", "Messages in the spool", value=self.publisher.spool_depth
        )
        yield GaugeMetricFamily(
            "callwatch_mqtt_pending", "Messages not yet acknowledged", value=self.publisher.pending
        )
        buckets = []
        running = 0
        for bound, count in zip(
            (*LATENCY_BUCKETS, float("inf")), stats.latency_counts, strict=True
        ):
            running += count
            buckets.append((_le(bound), running))
        yield HistogramMetricFamily(
            "callwatch_mqtt_publish_latency_seconds",
            "Submit to PUBACK latency",
            buckets=buckets,
            sum_value=stats.latency_sum,
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
