"""Sustained deliveries/s and gateway CPU per delivery: 1,000 clients on one channel, 2 nodes.

This process is both the load client (1,000 WebSocket clients, 500 per node) and the publisher
standing in for the relay: it publishes envelopes to Redis as fast as the gateways take them,
closed-loop (at most WINDOW events ahead of the slowest sampled client), because Redis
disconnects a pub/sub subscriber whose output buffer overflows and that would lose events.

    .venv/bin/python benchmarks/gateway_throughput.py [seconds]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import orjson
from gateway_common import (
    Node,
    envelope,
    new_id,
    open_many,
    raise_nofile,
    redis_client,
    self_cpu_s,
    tear_down,
)
from websockets.asyncio.client import ClientConnection

CLIENTS, WINDOW, CHUNK, SAMPLED = 1000, 4000, 200, 10


async def main(seconds: float) -> None:
    raise_nofile()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    nodes = [await Node(prefix).ready(), await Node(prefix).ready()]
    tenant, project = new_id(), new_id()
    clients = await open_many(CLIENTS, lambda i: nodes[i % 2].port, tenant, project)
    counts = [0] * CLIENTS
    frames = [0]
    seen: list[list[int]] = [[] for _ in range(SAMPLED)]

    async def receive(i: int, ws: ClientConnection) -> None:
        async for data in ws:
            assert isinstance(data, str)
            frames[0] += 1
            if i < SAMPLED:  # full check on a sample: exactly once, in order
                seen[i].extend(e["position"] for e in orjson.loads(data).get("events", []))
                counts[i] = len(seen[i])
            else:
                counts[i] += data.count('"position":')

    readers = [asyncio.create_task(receive(i, ws)) for i, ws in enumerate(clients)]
    redis = redis_client()
    position, prev = 0, None
    cpu_nodes0, cpu_self0 = sum(n.cpu_s() for n in nodes), self_cpu_s()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if position - min(counts[:SAMPLED]) > WINDOW:
            await asyncio.sleep(0.001)
            continue
        pipe = redis.pipeline(transaction=False)
        for _ in range(CHUNK):
            position += 1
            pipe.publish(*envelope(prefix, tenant, project, position, prev))
            prev = position
        await pipe.execute()
    while min(counts) < position and time.monotonic() - t0 < seconds + 30:
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - t0
    cpu_nodes = sum(n.cpu_s() for n in nodes) - cpu_nodes0
    cpu_self = self_cpu_s() - cpu_self0
    delivered = sum(counts)
    ok = all(s == list(range(1, position + 1)) for s in seen) and set(counts) == {position}
    print(
        f"published {position} events in {elapsed:.1f} s ({position / elapsed:.0f}/s), "
        f"{CLIENTS} clients over 2 nodes"
    )
    print(
        f"deliveries: {delivered} = {delivered / elapsed:,.0f}/s; exactly once and in order: {ok}"
    )
    print(f"frames: {frames[0]} ({delivered / frames[0]:.0f} events per frame on average)")
    print(
        f"gateway CPU (2 nodes): {cpu_nodes:.1f} s = {cpu_nodes / delivered * 1e6:.2f} µs "
        f"per delivery; load client + publisher CPU: {cpu_self:.1f} s "
        f"({cpu_self / elapsed * 100:.0f}% of a core)"
    )
    await redis.aclose()
    tear_down(readers, clients, nodes)


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0))
