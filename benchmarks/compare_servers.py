"""CollabSpace's gateway side by side with socket.io 4 + redis-adapter and a bare websockets relay.

Every server runs as two nodes fed through Redis, and one load client reads them all: the Node
process of benchmarks/node/load_client.js (raw WebSocket; for socket.io it speaks engine.io 4
and socket.io 4 itself, no client library), 200 handshakes in flight, connection i to node i % 2.

    .venv/bin/python benchmarks/compare_servers.py memory  [--servers ...] [--connections 10000]
    .venv/bin/python benchmarks/compare_servers.py latency [--servers ...] [--clients 2000]
        [--rate 10] [--seconds 20]

`memory`: RSS per idle connection, over a warmed baseline of 100 connections a node, with the
connections spread over 100 channels (project channels, socket.io rooms; the bare relay has
one channel for all). `latency`: every client on one channel, one event per frame at `rate`
events/s; client-measured latency from the event's `time` (stamped as it is published), server
CPU per delivery, and whether every client got every event exactly once, in order.

Publishers: for CollabSpace and the bare relay, the relay stand-in of gateway_latency.py (the
relay's envelopes on the project's Redis channel); for socket.io, node/socketio_publisher.js
(@socket.io/redis-emitter, the adapter's own format). The npm packages of the socket.io server
are installed on first use (`npm ci` in benchmarks/node), never in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from gateway_common import Node, connect_phase, new_id, raise_nofile, ticket
from gateway_latency import publish
from node_client import LoadClients, node_binary

from realtime import envelope as wire

NODE_DIR = Path(__file__).with_name("node")
SERVERS = ("collabspace", "socketio", "bare")


def npm_install() -> None:
    if not (NODE_DIR / "node_modules" / "socket.io").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True
        )


async def start_nodes(server: str, prefix: str, tenant: str, project: str) -> list[Node]:
    if server == "collabspace":
        command = None
        env: dict[str, str] = {}
    elif server == "bare":
        command = [sys.executable, str(Path(__file__).with_name("bare_relay_server.py"))]
        env = {"BARE_CHANNEL": wire.project_channel(prefix, tenant, project)}
    else:
        npm_install()
        command = [node_binary(), str(NODE_DIR / "socketio_server.js")]
        env = {}
    return [await Node(prefix, command, **env).ready() for _ in range(2)]


def client_config(server: str, ports: list[int], tenant: str, projects: list[str], n: int) -> Any:
    """n connections, connection i on projects[i % len(projects)]."""
    channels = [f"project:{projects[i % len(projects)]}" for i in range(n)]
    config: dict[str, Any] = {"protocol": server, "ports": ports, "inflight": 200, "count": n}
    if server == "collabspace":
        config["tickets"] = [ticket(tenant, new_id(), [c.split(":", 1)[1]]) for c in channels]
    config["channels"] = channels
    return config


def load_average() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


async def memory(server: str, args: argparse.Namespace) -> None:
    prefix, tenant = f"bench-{uuid.uuid4().hex[:8]}", new_id()
    projects = [new_id() for _ in range(args.channels)]
    nodes = await start_nodes(server, prefix, tenant, projects[0])
    ports = [n.port for n in nodes]
    warm = LoadClients(client_config(server, ports, tenant, projects, 200))
    load = LoadClients(
        client_config(server, ports, tenant, projects, args.connections), args.client_processes
    )
    try:
        await warm.start()
        await asyncio.sleep(2.0)
        base = [n.rss_kib() for n in nodes]
        ready = await load.start()
        await asyncio.sleep(3.0)
        after = [n.rss_kib() for n in nodes]
        per_node = args.connections / 2
        per_conn = [(a - b) * 1024 / 1000 / per_node for a, b in zip(after, base, strict=True)]
        print(
            f"{server:<12} memory: {args.connections:,} connections over {args.channels} "
            f"channels, {ready['connected']:,} connected ({ready['failed']} failed) in "
            f"{ready['seconds']:.1f} s: {' / '.join(f'{kb:.1f}' for kb in per_conn)} KB per "
            f"idle connection per node; load average {load_average()}"
        )
        print(f"{server:<12} connect storm: {connect_phase(ready['connect_ms'], ready['seconds'])}")
    finally:
        await load.stop()
        await warm.stop()
        for node in nodes:
            node.stop()


def start_publisher(server: str, prefix: str, tenant: str, project: str, start: int, args: Any):  # type: ignore[no-untyped-def]
    if server == "socketio":
        return subprocess.Popen(
            [
                node_binary(),
                str(NODE_DIR / "socketio_publisher.js"),
                prefix,
                f"project:{project}",
                str(start),
                str(args.rate),
                str(args.seconds),
            ]
        )
    process = multiprocessing.get_context("spawn").Process(
        target=publish, args=(prefix, tenant, project, start, args.rate, args.seconds)
    )
    process.start()
    return process


async def latency(server: str, args: argparse.Namespace) -> None:
    prefix, tenant, project = f"bench-{uuid.uuid4().hex[:8]}", new_id(), new_id()
    nodes = await start_nodes(server, prefix, tenant, project)
    client = LoadClients(
        client_config(server, [n.port for n in nodes], tenant, [project], args.clients),
        args.client_processes,
    )
    try:
        ready = await client.start()
        print(f"{server:<12} connect storm: {connect_phase(ready['connect_ms'], ready['seconds'])}")
        await asyncio.sleep(2.0)
        await client.mark()
        cpu0 = sum(n.cpu_s() for n in nodes)
        publisher = start_publisher(server, prefix, tenant, project, 0, args)
        while (publisher.poll() is None) if server == "socketio" else publisher.is_alive():
            await asyncio.sleep(0.05)
        count = int(args.rate * args.seconds)
        report = await client.wait_for_count(count, 30)
        cpu = sum(n.cpu_s() for n in nodes) - cpu0
        lat, deliveries = report["latency_ms"], report["events"]
        complete = (
            report["count_min"] == report["count_max"] == count
            and report["position_sum_min"] == report["position_sum_max"] == count * (count + 1) // 2
            and report["failures"] == 0
        )
        print(
            f"{server:<12} {args.clients} clients x {args.rate:g} ev/s: p50 {lat['p50']:.1f} ms "
            f"p99 {lat['p99']:.1f} ms max {lat['max']:.1f} ms; server CPU "
            f"{cpu / report['seconds'] * 100:.0f}% = {cpu / max(1, deliveries) * 1e6:.1f} µs per "
            f"delivery; load client CPU {report['cpu_percent']:.0f}%; all delivered once in "
            f"order: {complete} ({report['failures']} failures {report['failure_samples']}); "
            f"load average {load_average()}"
        )
    finally:
        await client.stop()
        for node in nodes:
            node.stop()


async def main(args: argparse.Namespace) -> None:
    raise_nofile()
    for server in args.servers:
        await (memory if args.what == "memory" else latency)(server, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("memory", "latency"))
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument(
        "--client-processes", type=int, default=2, help="Node load client processes"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main(parser.parse_args()))
