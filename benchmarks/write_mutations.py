"""Benchmark: task mutations over HTTP against PostgreSQL, with 32 concurrent clients.

Creates its own database, migrates it, starts `collabspace serve` in a subprocess (and, with
`--topology split`, `python -m app.worker` for the projections and the relay), signs up,
creates projects and tasks, then has each client move and edit its own tasks for a fixed time
and prints commands/s, p50/p99 latency and CPU per mutation. The read models must keep up: the
run starts from caught-up projections and waits for them at the end, and that catch-up counts
(time and CPU). The relay publishes to the real Redis. The database is dropped at the end.

    .venv/bin/python benchmarks/write_mutations.py [--workers 2] [--duration 20] [--clients 32]
        [--topology monolith|split|requests-only] [--client lean|httpx]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lean_http import LeanClient  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
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
def server(dsn: str, port: int, args: argparse.Namespace, pool: int) -> Iterator[list[int]]:
    """The API (and, with `--topology split`, the worker); yields their process ids."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        # Requests as the app role, under row-level security (created by the migration).
        "APP_DATABASE_URL": dsn.replace("://postgres@", "://collabspace_app@", 1),
        "SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "PROJECT_LIMIT": "1000",
        # The relay publishes every event to the real Redis, under a prefix of its own.
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "EMBEDDED_GATEWAY": "0",
        # Enough pooled connections for every client: overflow connections are closed on
        # check-in, and reconnecting under load costs more than the mutation itself.
        "DB_POOL_SIZE": str(pool),
    }
    collabspace = os.path.join(os.path.dirname(sys.executable), "collabspace")
    subprocess.run([collabspace, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    api_env = dict(env)
    processes = []
    if args.topology == "requests-only":
        # Diagnostic: the request path alone, no read models kept and nothing published.
        api_env.update(RUN_PROJECTIONS="0", RUN_RELAY="0")
    if args.topology == "split":
        # The API serves requests only; the worker keeps the read models and runs the relay.
        api_env.update(RUN_PROJECTIONS="0", RUN_RELAY="0")
        processes.append(subprocess.Popen([sys.executable, "-m", "app.worker"], env=env))
    command = [collabspace, "serve", "--port", str(port), "--workers", str(args.workers)]
    processes.insert(0, subprocess.Popen(command, env=api_env))
    try:
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


async def analyze(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def caught_up(dsn: str, limit: float = 120.0) -> tuple[int, float]:
    """Wait until every read model has applied every event; (events behind at the call, s)."""
    connection = await asyncpg.connect(dsn)
    try:
        head = await connection.fetchval("SELECT position FROM event_head")
        started = time.perf_counter()
        behind = None
        while time.perf_counter() - started < limit:
            low = await connection.fetchval("SELECT min(position) FROM projection_checkpoint")
            behind = head - (low or 0) if behind is None else behind
            if low is not None and low >= head:
                return behind, time.perf_counter() - started
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the read models did not catch up within {limit:.0f} s")
    finally:
        await connection.close()


async def head(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT position FROM event_head"))
    finally:
        await connection.close()


async def batch_sizes(dsn: str, after: int, upto: int) -> dict[int, int]:
    """Commands per group-commit batch in (after, upto]: each batch is one transaction, so its
    events share `xmin`, and a task mutation writes one stream, so streams count commands.
    {commands in a batch: batches}, read from the events themselves: nothing to expose."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT n, count(*) FROM (SELECT count(DISTINCT stream_id) AS n FROM event"
            " WHERE position > $1 AND position <= $2 GROUP BY xmin::text) b GROUP BY n",
            after,
            upto,
        )
    finally:
        await connection.close()
    return {int(r[0]): int(r[1]) for r in rows}


def batch_line(sizes: dict[int, int]) -> str:
    batches = sum(sizes.values())
    commands = sum(size * count for size, count in sizes.items())
    if not batches:
        return "no batches"
    shares = ", ".join(
        f"{size}: {100 * size * count / commands:.0f}%" for size, count in sorted(sizes.items())[:8]
    )
    return (
        f"group commit: {batches} batches, {commands / batches:.1f} commands/batch mean, "
        f"max {max(sizes)}; share of commands by batch size {shares}"
        + (" ..." if len(sizes) > 8 else "")
    )


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


class HttpxSession:
    """The same calls through httpx (`--client httpx`), for comparison with the lean client."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self._client = httpx.AsyncClient(base_url=base, headers=headers, timeout=30)

    async def __aenter__(self) -> HttpxSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, json: Any = None) -> tuple[int, bytes]:
        response = await self._client.request(method, path, json=json)
        return response.status_code, response.content


def session(kind: str, base: str, headers: dict[str, str]) -> LeanClient | HttpxSession:
    if kind == "httpx":
        return HttpxSession(base, headers)
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return LeanClient(host, int(port), headers)


async def drive(
    kind: str, base: str, headers: dict[str, str], tasks: list[dict[str, Any]], until: float
) -> tuple[list[float], int]:
    """Move and edit this client's own tasks until the deadline; latencies in ms, errors."""
    latencies: list[float] = []
    errors = 0
    async with session(kind, base, headers) as client:
        i = 0
        while time.perf_counter() < until:
            task = tasks[i % len(tasks)]
            i += 1
            started = time.perf_counter()
            if i % 2:
                target = NEXT_STATUS[task["status"]]
                status, _ = await client.request(
                    "POST", f"/tasks/{task['id']}/move", {"status": target}
                )
                if status == 200:
                    task["status"] = target
            else:
                task["edits"] += 1
                status, _ = await client.request(
                    "PATCH", f"/tasks/{task['id']}", {"title": f"Edited {task['edits']}"}
                )
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors += 1
    return latencies, errors


async def run(args: argparse.Namespace) -> None:
    async with database() as dsn:
        port = free_port() if args.port == 0 else args.port
        pool = args.pool or -(-args.clients // args.workers)
        with server(dsn, port, args, pool) as pids:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base)
            headers, owned = await setup(base, args.clients, args.tasks)
            # Statistics as autovacuum keeps them on a running system (its first pass on a new
            # database can come a minute late): without them PostgreSQL plans for empty tables,
            # and every pooled session caches those plans.
            await analyze(dsn)
            warmup = time.perf_counter() + args.warmup
            await asyncio.gather(*(drive(args.client, base, headers, t, warmup) for t in owned))
            # Start from read models that are up to date, and count their catch-up at the end:
            # the projections' work is part of what every mutation costs.
            if args.topology != "requests-only":
                await caught_up(dsn)
            cpu_before, pg_before = sum(map(cpu_seconds, pids)), postgres_cpu_seconds()
            api_before = cpu_seconds(pids[0])
            client_before = time.process_time()
            head_before = await head(dsn)
            started = time.perf_counter()
            until = started + args.duration
            results = await asyncio.gather(
                *(drive(args.client, base, headers, t, until) for t in owned)
            )
            elapsed = time.perf_counter() - started
            sizes = await batch_sizes(dsn, head_before, await head(dsn))
            client_cpu = time.process_time() - client_before
            behind, catch_up = (
                (0, 0.0) if args.topology == "requests-only" else await caught_up(dsn)
            )
            api_cpu = cpu_seconds(pids[0]) - api_before
            server_cpu = sum(map(cpu_seconds, pids)) - cpu_before
            pg_cpu = postgres_cpu_seconds() - pg_before
    load = os.getloadavg()[0]
    latencies = sorted(ms for lat, _ in results for ms in lat)
    errors = sum(e for _, e in results)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"topology={args.topology} "
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
        f"server CPU {1000 * server_cpu / len(latencies):.2f} ms/mutation "
        f"(API {1000 * api_cpu / len(latencies):.2f}), "
        f"postgres CPU <= {1000 * pg_cpu / len(latencies):.2f} ms/mutation, "
        f"client ({args.client}) CPU {1000 * client_cpu / len(latencies):.2f} ms/mutation"
    )
    print(batch_line(sizes))
    if args.topology == "requests-only":
        print("no read models kept and nothing published: the request path alone")
    else:
        print(
            f"read models {behind} events behind when the load stopped, caught up "
            f"{catch_up:.2f} s later: sustained {len(latencies) / (elapsed + catch_up):.0f} "
            f"mutations/s with the read models kept (CPU figures include the catch-up)"
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
        "--topology",
        choices=("monolith", "split", "requests-only"),
        default="monolith",
        help="projections and relay in the API process (default), in `python -m app.worker`, "
        "or not at all (a diagnostic of the request path)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="load generator: the lean HTTP/1.1 client (default) or httpx",
    )
    parser.add_argument(
        "--pool", type=int, default=0, help="DB_POOL_SIZE (default: per worker share of clients)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
