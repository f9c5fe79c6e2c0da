"""The relay's numbers: what it published, how far behind it is, and how often Redis failed.

Kept as plain counters in one object (cheap to update per event on the hot path) and rendered
on demand: `snapshot()` for JSON and tests, `render_metrics()` for Prometheus' text format.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# Commit-to-publish lag buckets in milliseconds (upper bounds; +Inf is implicit).
LAG_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0, 30000.0)
RESERVOIR_SIZE = 4096


@dataclasses.dataclass(slots=True)
class RelayMetrics:
    published: int = 0  # events
    messages: int = 0  # channel messages (an event goes out on 1-3 channels)
    batches: int = 0
    redis_errors: int = 0
    db_errors: int = 0
    is_leader: bool = False
    elections: int = 0  # times this process became the leader
    state: str = "starting"
    checkpoint: int = 0
    head: int = 0
    last_lag_ms: float = 0.0
    lag_count: int = 0
    lag_sum_ms: float = 0.0
    lag_buckets: list[int] = dataclasses.field(
        default_factory=lambda: [0] * (len(LAG_BUCKETS_MS) + 1)
    )
    # The latest lags, for p50/p99 over the recent past rather than since start-up.
    recent_lags: deque[float] = dataclasses.field(
        default_factory=lambda: deque(maxlen=RESERVOIR_SIZE)
    )

    @property
    def lag_events(self) -> int:
        return max(0, self.head - self.checkpoint)

    def observe_lags(self, lags_ms: Iterable[float]) -> None:
        for lag in lags_ms:
            self.lag_buckets[bisect.bisect_left(LAG_BUCKETS_MS, lag)] += 1
            self.lag_count += 1
            self.lag_sum_ms += lag
            self.recent_lags.append(lag)
            self.last_lag_ms = lag

    def lag_quantile(self, q: float) -> float | None:
        if not self.recent_lags:
            return None
        ordered = sorted(self.recent_lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "is_leader": self.is_leader,
            "elections": self.elections,
            "published": self.published,
            "messages": self.messages,
            "batches": self.batches,
            "redis_errors": self.redis_errors,
            "db_errors": self.db_errors,
            "checkpoint": self.checkpoint,
            "head": self.head,
            "lag_events": self.lag_events,
            "lag_ms_last": self.last_lag_ms,
            "lag_ms_p50": self.lag_quantile(0.50),
            "lag_ms_p99": self.lag_quantile(0.99),
        }


class RelayCollector:
    """A prometheus_client collector; register it in the API's registry to serve /metrics."""

    def __init__(self, metrics: RelayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        yield _counter("collabspace_relay_published_events", "Events published", m.published)
        yield _counter("collabspace_relay_published_messages", "Channel messages", m.messages)
        yield _counter("collabspace_relay_batches", "Batches published", m.batches)
        yield _counter("collabspace_relay_redis_errors", "Failed publish attempts", m.redis_errors)
        yield _counter("collabspace_relay_db_errors", "Failed database steps", m.db_errors)
        yield _gauge("collabspace_relay_is_leader", "1 if this process publishes", m.is_leader)
        yield _gauge("collabspace_relay_checkpoint", "Last published position", m.checkpoint)
        yield _gauge("collabspace_relay_lag_events", "Committed, not yet published", m.lag_events)
        yield _gauge(
            "collabspace_relay_healthy",
            "1 unless Redis or the database is down",
            m.state not in {"broker_down", "db_down"},
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*LAG_BUCKETS_MS, float("inf")), m.lag_buckets, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
        yield HistogramMetricFamily(
            "collabspace_relay_lag_ms",
            "Commit (recorded_at) to publish, milliseconds",
            buckets=buckets,
            sum_value=m.lag_sum_ms,
        )


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def render_metrics(metrics: RelayMetrics) -> bytes:
    """The relay's metrics in Prometheus text format (a private registry: no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RelayCollector(metrics))
    return generate_latest(registry)
