"""Benchmark: task mutations over HTTP against PostgreSQL, with 32 concurrent clients.

Creates its own database, migrates it, starts `collabspace serve` in a subprocess, signs up,
creates projects and tasks, then has each client move and edit its own tasks for a fixed time
and prints commands/s and p50/p99 latency. The database is dropped at the end.

    .venv/bin/python benchmarks/write_mutations.py [--workers 2] [--duration 20] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
NEXT_STATUS = {"todo": "in_progress", "in_progress": "done", "done": "todo"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    name = f"cs_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def cpu_seconds(root: int) -> float:
    """User+system CPU seconds of a process and its direct children (uvicorn workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds of every postgres process (backends, WAL writer, ...) visible here."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue
        if head.endswith("(postgres"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextlib.contextmanager
def server(dsn: str, port: int, workers: int, pool: int) -> Iterator[int]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        # Requests as the app role, under row-level security (created by the migration).
        "APP_DATABASE_URL": dsn.replace("://postgres@", "://collabspace_app@", 1),
        "SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "PROJECT_LIMIT": "1000",
        # No browser here: without REDIS_URL the embedded gateway would forbid --workers 2.
        "EMBEDDED_GATEWAY": "0",
        # Enough pooled connections for every client: overflow connections are closed on
        # check-in, and reconnecting under load costs more than the mutation itself.
        "DB_POOL_SIZE": str(pool),
    }
    collabspace = os.path.join(os.path.dirname(sys.executable), "collabspace")
    subprocess.run([collabspace, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    command = [collabspace, "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    try:
        yield process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not become ready")


async def setup(base: str, clients: int, tasks_per_client: int) -> tuple[dict[str, str], list[Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        signup = await client.post(
            "/auth/signup",
            json={
                "tenant_name": "Bench",
                "name": "Bench Owner",
                "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
                "password": "benchmark password",
            },
        )
        signup.raise_for_status()
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        owned: list[list[dict[str, Any]]] = []
        for c in range(clients):
            project = await client.post("/projects", json={"name": f"P{c}"}, headers=headers)
            project.raise_for_status()
            tasks = []
            for t in range(tasks_per_client):
                created = await client.post(
                    f"/projects/{project.json()['id']}/tasks",
                    json={"title": f"Task {c}.{t}"},
                    headers=headers,
                )
                created.raise_for_status()
                tasks.append({"id": created.json()["id"], "status": "todo", "edits": 0})
            owned.append(tasks)
    return headers, owned


async def drive(
    base: str, headers: dict[str, str], tasks: list[dict[str, Any]], until: float
) -> tuple[list[float], int]:
    """Move and edit this client's own tasks until the deadline; latencies in ms, errors."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        i = 0
        while time.perf_counter() < until:
            task = tasks[i % len(tasks)]
            i += 1
            started = time.perf_counter()
            if i % 2:
                target = NEXT_STATUS[task["status"]]
                response = await client.post(f"/tasks/{task['id']}/move", json={"status": target})
                if response.status_code == 200:
                    task["status"] = target
            else:
                task["edits"] += 1
                response = await client.patch(
                    f"/tasks/{task['id']}", json={"title": f"Edited {task['edits']}"}
                )
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors += 1
    return latencies, errors


async def run(args: argparse.Namespace) -> None:
    async with database() as dsn:
        port = free_port() if args.port == 0 else args.port
        pool = args.pool or -(-args.clients // args.workers)
        with server(dsn, port, args.workers, pool) as pid:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base)
            headers, owned = await setup(base, args.clients, args.tasks)
            warmup = time.perf_counter() + args.warmup
            await asyncio.gather(*(drive(base, headers, t, warmup) for t in owned))
            cpu_before, pg_before = cpu_seconds(pid), postgres_cpu_seconds()
            started = time.perf_counter()
            until = started + args.duration
            results = await asyncio.gather(*(drive(base, headers, t, until) for t in owned))
            elapsed = time.perf_counter() - started
            server_cpu = cpu_seconds(pid) - cpu_before
            pg_cpu = postgres_cpu_seconds() - pg_before
    load = os.getloadavg()[0]
    latencies = sorted(ms for lat, _ in results for ms in lat)
    errors = sum(e for _, e in results)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"workers={args.workers} clients={args.clients} pool={args.pool or 'auto'} "
        f"duration={elapsed:.1f}s "
        f"mutations={len(latencies)} errors={errors}"
    )
    print(
        f"throughput={len(latencies) / elapsed:.0f} mutations/s "
        f"p50={q[49]:.1f} ms p99={q[98]:.1f} ms max={latencies[-1]:.1f} ms "
        f"(load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    # CPU per mutation is the figure that survives a shared, loaded machine; PostgreSQL's
    # includes other sessions' work on the same cluster, so it is an upper bound.
    print(
        f"server CPU {1000 * server_cpu / len(latencies):.2f} ms/mutation, "
        f"postgres CPU <= {1000 * pg_cpu / len(latencies):.2f} ms/mutation"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=4, help="tasks per client")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not measured")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--pool", type=int, default=0, help="DB_POOL_SIZE (default: per worker share of clients)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
