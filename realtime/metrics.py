"""Prometheus metrics of one gateway, on its own registry (embedding must not collide)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

CLOSE_REASONS = (
    "auth",
    "slow_consumer",
    "rate_limit",
    "deactivated",
    "lifetime",
    "overloaded",
    "user_cap",
    "drain",
)
GAP_REASONS = ("reads", "time", "held", "unavailable")
DROP_REASONS = ("duplicate", "malformed", "unsubscribed")
# Fine below 100 ms, where the whole-path target (60 ms at p99) is judged per hop.
LATENCY_BUCKETS = (
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.06,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        p = "collabspace_gateway_"
        # process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds: what a
        # load test reads to size nodes. An embedded gateway reports its host process.
        ProcessCollector(registry=r)
        self.connections = Gauge(p + "connections", "Open, authenticated connections", registry=r)
        self.subscriptions = Gauge(p + "subscriptions", "Client channel subscriptions", registry=r)
        self.broker_channels = Gauge(
            p + "broker_channels", "Broker channels subscribed", registry=r
        )
        self.messages_in = Counter(p + "messages_in", "Frames received from clients", registry=r)
        self.broker_in = Counter(
            p + "broker_messages", "Messages received from the broker", registry=r
        )
        self.messages_out = Counter(p + "messages_out", "Frames written to clients", registry=r)
        self.deliveries = Counter(p + "deliveries", "Events written to clients", registry=r)
        self.bytes_out = Counter(p + "bytes_out", "Bytes of event frames written", registry=r)
        self.gaps = Counter(p + "gaps", "Events whose 'prev' was not the last seen", registry=r)
        self.resumes = Counter(
            p + "resumes", "Subscribes with since, by outcome", ["outcome"], registry=r
        )
        self.backfilled = Counter(
            p + "backfilled_events", "Events replayed from backfill", registry=r
        )
        self.gap_repairs = Counter(
            p + "gap_repairs", "Live-stream gaps repaired by backfill", registry=r
        )
        self.resume_gaps = Counter(
            p + "resume_gaps",
            "Resumes whose replay proved short (prev chain broken), by "
            "where it showed: replay, tail (queued live events), live",
            ["stage"],
            registry=r,
        )
        self.repair_reads = Counter(
            p + "repair_reads", "Backfill reads made by gap repair", registry=r
        )
        unrepaired = Counter(
            p + "gaps_unrepaired",
            "Gaps given up (resync sent): reads, time or held bound reached, "
            "or the backfill unavailable",
            ["reason"],
            registry=r,
        )
        self.gaps_unrepaired = {reason: unrepaired.labels(reason) for reason in GAP_REASONS}
        self.resyncs = Counter(p + "resyncs", "Resync answers and notices sent", registry=r)
        self.backfill_fetches = Counter(
            p + "backfill_fetches", "Backfill reads from the API (after coalescing)", registry=r
        )
        self.presence = Gauge(p + "presence_entries", "Local presence entries", registry=r)
        self.ephemeral = Counter(p + "ephemeral", "Ephemeral broadcasts relayed", registry=r)
        drops = Counter(p + "drops", "Broker messages dropped", ["reason"], registry=r)
        self.drops = {reason: drops.labels(reason) for reason in DROP_REASONS}
        closes = Counter(p + "closes", "Connections closed by the gateway", ["reason"], registry=r)
        self.closes = {reason: closes.labels(reason) for reason in CLOSE_REASONS}
        # Two points of one event's path through the node (benchmarks/whole_path.py reads
        # both): handed to the channel's members, then written to their sockets.
        self.receive_latency = Histogram(
            p + "commit_to_receive_seconds",
            "Event commit time (envelope 'time') to its arrival from the broker, in order",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            p + "commit_to_send_seconds",
            "Event commit time (envelope 'time') to write on the sockets",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
