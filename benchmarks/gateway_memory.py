"""Memory per idle connection on the gateway, with connections arriving as a deployment's do.

Connections arrive `--inflight` at a time (200 by default: a reconnect storm after a deploy, not
one by one), connection i goes to node i % `--nodes`, and is subscribed to one of `--channels`
project channels (round robin). Each connection is its own user by default (so a node also holds
one Redis subscription per user channel); `--one-user` authenticates them all as one user.
Reported per node: RSS delta over a warmed-up baseline (100 connections per node, then settled),
divided by that node's connections, and the nodes' resident set from /proc smaps (heap vs
anonymous mappings) so allocator behaviour after the storm shows. Each storm's connect phase is
printed too: connections/s, and p50/p99 of each connection's time from connect to subscribed (the
Python client measures itself as well: compare_servers.py's Node client is the reference).

    .venv/bin/python benchmarks/gateway_memory.py [--steps 5000 10000] [--nodes 2]
        [--channels 100] [--inflight 200] [--one-user]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import uuid

from gateway_common import (
    Node,
    connect_phase,
    new_id,
    open_client,
    raise_nofile,
    self_cpu_s,
    ticket,
)
from websockets.asyncio.client import ClientConnection

BASELINE_PER_NODE = 100


async def open_storm(
    n: int,
    start: int,
    nodes: list[Node],
    tenant: str,
    projects: list[str],
    inflight: int,
    user: str | None,
    connect_ms: list[float] | None = None,
) -> list[ClientConnection]:
    sem = asyncio.Semaphore(inflight)

    async def one(i: int) -> ClientConnection:
        project = projects[i % len(projects)]
        async with sem:
            tkt = ticket(tenant, user or new_id(), [project])
            t0 = time.perf_counter()
            ws = await open_client(nodes[i % len(nodes)].port, tkt, f"project:{project}")
            if connect_ms is not None:
                connect_ms.append((time.perf_counter() - t0) * 1000)
            return ws

    return list(await asyncio.gather(*(one(start + i) for i in range(n))))


def smaps_kib(pid: int) -> dict[str, int]:
    """Resident KiB of the [heap] and of anonymous mappings (arenas, mmapped blocks)."""
    heap = anon = 0
    current = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if not line[0].isupper() or ":" not in line.split()[0]:
                parts = line.split()
                current = parts[5] if len(parts) > 5 else ""
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                if current == "[heap]":
                    heap += kib
                elif current == "":
                    anon += kib
    return {"heap": heap, "anon": anon}


async def main(args: argparse.Namespace) -> None:
    raise_nofile()
    # One user may hold every connection here (a kiosk, a load test): lift the per-user cap.
    env = {"MAX_CONNECTIONS_PER_USER": "100000"}
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    nodes = [await Node(prefix, **env).ready() for _ in range(args.nodes)]
    tenant = new_id()
    projects = [new_id() for _ in range(args.channels)]
    user = new_id() if args.one_user else None
    print(
        f"load average {open('/proc/loadavg').read().split()[:3]}; {args.nodes} nodes, "
        f"{args.channels} channels, {args.inflight} in flight, "
        f"{'one user' if user else 'a user per connection'}"
    )
    try:
        base_n = BASELINE_PER_NODE * len(nodes)
        clients = await open_storm(base_n, 0, nodes, tenant, projects, args.inflight, user)
        await asyncio.sleep(2)
        base = [node.rss_kib() for node in nodes]
        cpu0 = self_cpu_s()
        for target in args.steps:
            more = target - (len(clients) - base_n)
            connect_ms: list[float] = []
            t0 = time.perf_counter()
            clients += await open_storm(
                more, len(clients), nodes, tenant, projects, args.inflight, user, connect_ms
            )
            print(
                f"{target:>6} connections, storm of {more}: "
                f"{connect_phase(connect_ms, time.perf_counter() - t0)}"
            )
            gc.collect()
            await asyncio.sleep(3)
            per_node = (len(clients) - base_n) / len(nodes)
            for i, node in enumerate(nodes):
                delta = node.rss_kib() - base[i]
                maps = smaps_kib(node.proc.pid)
                print(
                    f"{target:>6} connections, node {i}: {per_node:.0f} on it, RSS "
                    f"+{delta / 1024:.1f} MiB = {delta * 1.024 / per_node:.2f} KB per connection"
                    f" (heap {maps['heap'] / 1024:.0f} MiB, anon {maps['anon'] / 1024:.0f} MiB)"
                )
        print(f"load client CPU while connecting: {self_cpu_s() - cpu0:.1f} s")
        for ws in clients:
            ws.transport.abort()
    finally:
        for node in nodes:
            node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=200)
    parser.add_argument("--one-user", action="store_true")
    asyncio.run(main(parser.parse_args()))
