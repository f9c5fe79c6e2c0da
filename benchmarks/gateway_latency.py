"""Commit-to-client latency: 2,000 clients on one project over 2 nodes at a fixed event rate.

This process is the load client; a separate process stands in for the relay and publishes at the
given rate. An event's commit time is its envelope `time`, stamped just before it is handed to
Redis (the relay publishes right after commit); each client measures receive time minus that.
First 10 events/s, then higher rates to find the
highest at which p99 stays under 250 ms.

    .venv/bin/python benchmarks/gateway_latency.py [seconds_at_10_per_s] [rate ...] [--bare]

`--bare` runs the same load against two bare `websockets` + redis-py relays
(benchmarks/bare_relay_server.py) instead: the floor for CPU per delivery.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

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

from realtime import envelope as wire

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


async def main(first_seconds: float, rates: list[float], bare: bool) -> None:
    raise_nofile()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    tenant, project = new_id(), new_id()
    if bare:  # the floor: benchmarks/bare_relay_server.py on the project's channel
        server = [sys.executable, str(Path(__file__).with_name("bare_relay_server.py"))]
        channel = wire.project_channel(prefix, tenant, project)
        nodes = [await Node(prefix, server, BARE_CHANNEL=channel).ready() for _ in range(2)]
    else:
        nodes = [await Node(prefix).ready(), await Node(prefix).ready()]
    clients = await open_many(CLIENTS, lambda i: nodes[i % 2].port, tenant, project, bare=bare)
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
    server = "bare websockets relay" if bare else "CollabSpace gateway"
    print(
        f"{CLIENTS} clients on one project over 2 nodes ({server}); load average {' '.join(load)}"
    )
    for rate, seconds in [(10.0, first_seconds)] + [(r, 8.0) for r in rates]:
        latencies.clear()
        hist0 = [{} if bare else await latency_buckets(n.port) for n in nodes]
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
        hist = [{1.0: 0.0} if bare else await latency_buckets(n.port) for n in nodes]
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
    bare = "--bare" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--bare"]
    asyncio.run(
        main(
            float(args[0]) if args else 30.0,
            [float(a) for a in args[1:]] or [50, 100, 200, 400, 800],
            bare,
        )
    )
