"""Commit-to-client latency: 2,000 clients on one project over 2 nodes at a fixed event rate.

This process is the load client; a separate process stands in for the relay and publishes at the
given rate. An event's commit time is its envelope `time`, stamped just before it is handed to
Redis (the relay publishes right after commit); each client measures receive time minus that.
First 10 events/s, then higher rates to find the
highest at which p99 stays under 250 ms.

    .venv/bin/python benchmarks/gateway_latency.py [seconds_at_10_per_s] [rate ...]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
import uuid
from datetime import datetime

import orjson
from gateway_common import (
    Node,
    bucket_quantile,
    envelope,
    latency_buckets,
    new_id,
    open_many,
    raise_nofile,
    redis_client,
    self_cpu_s,
    tear_down,
)
from websockets.asyncio.client import ClientConnection

CLIENTS = 2000


def publish(
    prefix: str, tenant: str, project: str, start: int, rate: float, seconds: float
) -> None:
    """The relay stand-in (own process): exactly seconds * rate events at an even pace."""

    async def run() -> None:
        redis, t0, position = redis_client(), time.monotonic(), start
        end = start + int(seconds * rate)
        while position < end:
            due = min(end, start + int((time.monotonic() - t0) * rate) + 1)
            while position < due:
                position += 1
                await redis.publish(
                    *envelope(
                        prefix, tenant, project, position, position - 1 if position > 1 else None
                    )
                )
            await asyncio.sleep(max(0.0, (position - start) / rate - (time.monotonic() - t0)))
        await redis.aclose()

    asyncio.run(run())


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


async def main(first_seconds: float, rates: list[float]) -> None:
    raise_nofile()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    nodes = [await Node(prefix).ready(), await Node(prefix).ready()]
    tenant, project = new_id(), new_id()
    clients = await open_many(CLIENTS, lambda i: nodes[i % 2].port, tenant, project)
    latencies: list[float] = []
    counts = [0] * CLIENTS

    async def receive(i: int, ws: ClientConnection) -> None:
        async for data in ws:
            now = time.time()
            # Presence frames (this client's own join) are not events.
            events = orjson.loads(data).get("events", [])
            counts[i] += len(events)
            latencies.extend(now - datetime.fromisoformat(e["time"]).timestamp() for e in events)

    readers = [asyncio.create_task(receive(i, ws)) for i, ws in enumerate(clients)]
    position = 0
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{CLIENTS} clients on one project over 2 nodes; load average {' '.join(load)}")
    for rate, seconds in [(10.0, first_seconds)] + [(r, 8.0) for r in rates]:
        latencies.clear()
        hist0 = [await latency_buckets(n.port) for n in nodes]
        cpu_n0, cpu_s0, t0 = sum(n.cpu_s() for n in nodes), self_cpu_s(), time.monotonic()
        publisher = multiprocessing.get_context("spawn").Process(
            target=publish, args=(prefix, tenant, project, position, rate, seconds)
        )
        publisher.start()
        while publisher.is_alive():
            await asyncio.sleep(0.05)
        position += int(seconds * rate)
        wall = time.monotonic() - t0
        while min(counts) < position and time.monotonic() - t0 < seconds + 60:
            await asyncio.sleep(0.01)
        hist = [await latency_buckets(n.port) for n in nodes]
        merged0 = {le: sum(h.get(le, 0.0) for h in hist0) for le in hist[0]}
        merged = {le: sum(h[le] for h in hist) for le in hist[0]}
        deliveries = len(latencies)
        node_cpu = sum(n.cpu_s() for n in nodes) - cpu_n0
        complete = min(counts) == max(counts) == position
        print(
            f"{rate:>6.0f} ev/s: p50 {pct(latencies, 0.5) * 1000:7.1f} ms  "
            f"p99 {pct(latencies, 0.99) * 1000:7.1f} ms  max {max(latencies) * 1000:7.1f} ms  "
            f"{deliveries / wall:>9,.0f} deliveries/s  all delivered once: {complete}  "
            f"gateway-side commit-to-send p50 <= {bucket_quantile(merged0, merged, 0.5) * 1000:g}"
            f" ms, p99 <= {bucket_quantile(merged0, merged, 0.99) * 1000:g} ms  "
            f"gateway CPU {node_cpu / wall * 100:.0f}% = "
            f"{node_cpu / max(1, deliveries) * 1e6:.1f} µs per delivery  "
            f"load client CPU {(self_cpu_s() - cpu_s0) / wall * 100:.0f}%"
        )
    tear_down(readers, clients, nodes)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            float(args[0]) if args else 30.0,
            [float(a) for a in args[1:]] or [50, 100, 200, 400, 800],
        )
    )
