"""The whole path: REST mutation -> event store -> relay -> Redis -> 2 gateways -> 2,000 clients.

Split topology, every part a real process: the API (`collabspace serve`, RUN_PROJECTIONS=0
RUN_RELAY=0, as the app role under row-level security), the worker (`python -m app.worker`:
relay and projections), two `collabspace gateway` nodes, the shared Redis and PostgreSQL (a
database of its own, dropped at the end). The load client is one Node.js process
(benchmarks/node/load_client.js, raw WebSocket, no library) holding 2,000 connections: 200
handshakes in flight, connection i to node i % 2, each its own user (tickets signed with the
deployment's key, as the API's /auth/realtime-ticket does), all subscribed to one project.
Mutations are real `POST /projects/{id}/tasks`, sent open-loop at an even rate (10, then 50 /s).

Prints, per rate: client-measured latency from the event's `time` (p50/p99/max), the hop
breakdown (benchmarks/whole_path_hops.py), whether every client got every event exactly once
in order, and CPU per process.

    .venv/bin/python benchmarks/whole_path.py [--clients 2000] [--seconds 20] [--rates 10 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway_common import (  # noqa: E402
    REDIS_URL,
    SECRET,
    Node,
    proc_cpu_s,
    raise_nofile,
    redis_client,
    ticket,
)
from lean_http import LeanClient  # noqa: E402
from node_client import LoadClients  # noqa: E402
from whole_path_hops import Observed, histogram_quantile, scrape, table  # noqa: E402
from write_mutations import (  # noqa: E402
    cpu_seconds,
    database,
    free_port,
    postgres_cpu_seconds,
    wait_ready,
)

from realtime import envelope as wire  # noqa: E402

NOTIFY_CHANNEL = "collabspace_events"
COLLABSPACE = os.path.join(os.path.dirname(sys.executable), "collabspace")


@contextlib.contextmanager
def api_and_worker(dsn: str, port: int, prefix: str, split: bool) -> Iterator[list[int]]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "APP_DATABASE_URL": dsn.replace("://postgres@", "://collabspace_app@", 1),
        "SECRET_KEY": SECRET,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": prefix,
        "EMBEDDED_GATEWAY": "0",
        "DB_POOL_SIZE": "16",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([COLLABSPACE, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    api = subprocess.Popen(
        [COLLABSPACE, "serve", "--port", str(port), "--workers", "1"],
        env={**env, "RUN_PROJECTIONS": "0", "RUN_RELAY": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # One worker (relay and projections), or with --relay-alone two: the relay on its own.
    flags = [{"RUN_PROJECTIONS": "0"}, {"RUN_RELAY": "0"}] if split else [{}]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "app.worker"], env={**env, **f}, stderr=subprocess.DEVNULL
        )
        for f in flags
    ]
    try:
        yield [api.pid, *(w.pid for w in workers)]
    finally:
        for process in (api, *workers):
            process.terminate()
        for process in (api, *workers):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


class Mutator:
    """Open-loop task creation at a fixed rate over a few keep-alive connections."""

    def __init__(self, port: int, token: str, project: str, observed: Observed) -> None:
        self.port, self.project, self.observed = port, project, observed
        self.headers = {"Authorization": f"Bearer {token}"}
        self.errors = 0
        self.n = 0

    async def run(self, rate: float, seconds: float) -> None:
        pool: asyncio.Queue[LeanClient] = asyncio.Queue()
        clients = [LeanClient("127.0.0.1", self.port, self.headers) for _ in range(16)]
        for c in clients:
            await c.__aenter__()
            pool.put_nowait(c)
        tasks = []
        t0 = time.monotonic()
        for k in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self._one(pool)))
        await asyncio.gather(*tasks)
        for c in clients:
            await c.__aexit__(None, None, None)

    async def _one(self, pool: asyncio.Queue[LeanClient]) -> None:
        client = await pool.get()
        self.n += 1
        try:
            sent = time.time()
            status, body = await client.request(
                "POST", f"/projects/{self.project}/tasks", {"title": f"Task {self.n}"}
            )
            done = time.time()
        finally:
            pool.put_nowait(client)
        if status != 201:
            self.errors += 1
            return
        task = orjson.loads(body)["id"]
        self.observed.sent[f"task-{task}"] = (sent, done)


async def gateway_scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/metrics")).text


async def run(args: argparse.Namespace) -> None:
    raise_nofile()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with database() as dsn:
        with api_and_worker(dsn, port, prefix, args.relay_alone) as pids:
            await wait_ready(base)
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                signup = (
                    await http.post(
                        "/auth/signup",
                        json={
                            "tenant_name": "Bench",
                            "name": "Bench Owner",
                            "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                            "password": "benchmark password",
                        },
                    )
                ).json()
                token, tenant = signup["access_token"], signup["tenant_id"]
                headers = {"Authorization": f"Bearer {token}"}
                project = (
                    await http.post("/projects", json={"name": "Bench"}, headers=headers)
                ).json()["id"]
            nodes = [
                await Node(
                    prefix, [COLLABSPACE, "gateway", "--log-level", "WARNING"], API_URL=base
                ).ready()
                for _ in range(2)
            ]
            observed = Observed()
            listener = await asyncpg.connect(dsn)
            await listener.add_listener(NOTIFY_CHANNEL, observed.on_notify)
            redis = redis_client()
            pubsub = redis.pubsub()
            await pubsub.subscribe(wire.project_channel(prefix, tenant, project))

            async def read_redis() -> None:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        observed.on_message(message["data"])

            reader = asyncio.create_task(read_redis())
            client = LoadClients(
                {
                    "protocol": "collabspace",
                    "ports": [n.port for n in nodes],
                    "inflight": 200,
                    "tickets": [
                        ticket(tenant, str(uuid.uuid4()), [project]) for _ in range(args.clients)
                    ],
                    "channels": [f"project:{project}"] * args.clients,
                },
                args.client_processes,
            )
            try:
                seen = set(observed.published)  # before any client subscribed
                ready = await client.start()
                print(f"{args.clients} clients connected in {ready['seconds']:.1f} s ({ready})")
                mutator = Mutator(port, token, project, observed)
                await mutator.run(5.0, 2.0)  # warm-up: not measured
                await asyncio.sleep(1.0)
                for rate in args.rates:
                    await measure(args, rate, mutator, observed, client, nodes, pids, seen)
            finally:
                await client.stop()
                reader.cancel()
                await pubsub.aclose()
                await redis.aclose()
                await listener.close()
                for node in nodes:
                    node.stop()


async def sample(
    nodes: list[Node], pids: list[int], client: LoadClients
) -> tuple[dict[str, list[dict[float, float]]], dict[str, float]]:
    """The gateways' hop histograms and every process's CPU seconds so far (a run's two ends)."""
    texts = [await gateway_scrape(n.port) for n in nodes]
    hist = {
        k: [scrape(t, f"collabspace_gateway_commit_to_{k}_seconds") for t in texts]
        for k in ("receive", "send")
    }
    cpu = {
        "api": cpu_seconds(pids[0]),
        "worker": sum(cpu_seconds(pid) for pid in pids[1:]),
        "gateways": sum(n.cpu_s() for n in nodes),
        "postgres": postgres_cpu_seconds(),
        "load client": sum(map(proc_cpu_s, client.pids())),
    }
    return hist, cpu


async def measure(
    args: argparse.Namespace,
    rate: float,
    mutator: Mutator,
    observed: Observed,
    client: LoadClients,
    nodes: list[Node],
    pids: list[int],
    seen: set[int],
) -> None:
    before = max(observed.published, default=0)
    hist0, cpu0 = await sample(nodes, pids, client)
    t0 = time.monotonic()
    await client.mark()
    await mutator.run(rate, args.seconds)
    await asyncio.sleep(0.5)
    positions = observed.positions_after(before)
    expected = [p for p in observed.published if p not in seen]
    total = len(expected)
    report = await client.wait_for_count(total, 30)
    wall = time.monotonic() - t0
    hist1, cpu1 = await sample(nodes, pids, client)
    gateway = {
        k: tuple(histogram_quantile(hist0[k], hist1[k], q) * 1000 for q in (0.5, 0.99))
        for k in ("receive", "send")
    }
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    lat = report["latency_ms"]
    expected_sum = sum(expected)
    complete = (
        report["count_min"] == report["count_max"] == total
        and report["position_sum_min"] == report["position_sum_max"] == expected_sum
        and report["failures"] == 0
    )
    deliveries = report["events"]
    print(
        f"\n{rate:g} mutations/s for {args.seconds:g} s: {len(positions)} events, "
        f"{mutator.errors} HTTP errors, load average {load}"
    )
    print(
        f"  commit -> client: p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms  "
        f"max {lat['max']:.1f} ms over {lat['n']:,} deliveries; every client got every event "
        f"once, in order: {complete} (failures {report['failures']}: {report['failure_samples']})"
    )
    for line in table(observed.hops(positions), gateway, lat):
        print(line)
    # PostgreSQL's counts every backend on the shared server (other sessions too), and drops
    # when a backend exits: an indication only, never below zero.
    cpu = {k: max(0.0, cpu1[k] - cpu0[k]) for k in cpu0}
    print(
        "  CPU: "
        + ", ".join(f"{k} {v / wall * 100:.0f}%" for k, v in cpu.items())
        + f"; gateways {cpu['gateways'] / max(1, deliveries) * 1e6:.1f} µs per delivery"
        + f", load client {cpu['load client'] / max(1, deliveries) * 1e6:.1f} µs per delivery"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per rate")
    parser.add_argument(
        "--relay-alone",
        action="store_true",
        help="two workers: the relay alone (RUN_PROJECTIONS=0) and the projections (RUN_RELAY=0)",
    )
    parser.add_argument(
        "--client-processes", type=int, default=2, help="Node load client processes"
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 50.0])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
