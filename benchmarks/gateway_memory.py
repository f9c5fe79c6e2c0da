"""Memory per idle connection on one gateway node, at 5,000 and 10,000 connections.

Each connection is authenticated (its own user, so the node also holds one Redis subscription
per user channel) and subscribed to one project channel, then idle. Reported: node RSS delta
divided by the number of connections, measured against a warmed-up baseline of 100 connections.

    .venv/bin/python benchmarks/gateway_memory.py [5000 10000]
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import uuid

from gateway_common import Node, new_id, open_many, raise_nofile, self_cpu_s

SHARED = os.environ.get("BENCH_SHARED_USER") == "1"


async def main(steps: list[int]) -> None:
    raise_nofile()
    node = await Node(f"bench-{uuid.uuid4().hex[:8]}").ready()
    tenant, project = new_id(), new_id()
    try:
        clients = await open_many(100, lambda i: node.port, tenant, project)
        await asyncio.sleep(2)
        base = node.rss_kib()
        cpu0 = self_cpu_s()
        for target in steps:
            clients += await open_many(
                target - (len(clients) - 100),
                lambda i: node.port,
                tenant,
                project,
                shared_user=SHARED,
            )
            gc.collect()
            await asyncio.sleep(3)
            delta = node.rss_kib() - base
            n = len(clients) - 100
            print(
                f"{n:>6} idle connections: node RSS +{delta / 1024:.1f} MiB = "
                f"{delta / n:.2f} KiB per connection"
            )
        print(f"load client CPU while connecting: {self_cpu_s() - cpu0:.1f} s")
        for ws in clients:
            ws.transport.abort()
    finally:
        node.stop()


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [5000, 10000]))
