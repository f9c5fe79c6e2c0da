"""Benchmark: single-event commands appended straight to PostgreSQL, no HTTP (issue 18).

Shows whether the event head is still the limit of one primary. Starts `--processes` processes
(as API processes would be), each with `--appenders` concurrent appenders; each appender owns
one stream and appends one event per command at its known version through the real store (the
asyncpg unit of work and its group commit, as the app role under row-level security), over
`--tenants` tenants. Prints commands/s, p50/p99 latency per command, the batch-size
distribution (commands per batch call) and how busy each process's batch writer was.

`--path single` writes each command with its own `collabspace_append` statement instead (the
path before the group commit: one statement, one head lock and one WAL flush per command), for
a same-sitting comparison. `--load` reads each command's stream first, as a handler does.

    .venv/bin/python benchmarks/append_database.py [--processes 2] [--appenders 64]
        [--tenants 4] [--pool 8] [--duration 10] [--path batch|single] [--load]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from write_mutations import database  # noqa: E402

from app.eventstore.port import AppendContext, NewEvent  # noqa: E402
from app.eventstore.postgres import PgPool, pg_uow_factory  # noqa: E402
from app.eventstore.postgres.sql import APPEND, SET_TENANT  # noqa: E402
from app.worker import run_loop  # noqa: E402


async def single_append(pool: PgPool, tenant: str, stream: str, version: int) -> None:
    """The pre-group-commit write: one `collabspace_append` statement for one command."""
    connection = await pool.acquire()
    try:
        if connection.bound_tenant() != tenant:
            await connection.execute(SET_TENANT, tenant)
            connection.remember_tenant(tenant)
        metadata = json.dumps({"actor_id": None, "correlation_id": None, "causation_id": None})
        row = (
            [stream], [version], [None], ["Ticked"], [1], ['{"n": 1}'], [metadata],
            [datetime.now(UTC)],
        )  # fmt: skip
        await connection.fetchrow(APPEND, tenant, *row)
    finally:
        await pool.release(connection)


async def child(args: argparse.Namespace) -> None:
    """One process: its appenders, then its figures as one JSON line on stdout."""
    pool = PgPool(args.dsn, size=args.pool)
    make = pg_uow_factory(pool)
    tenants = [str(uuid.UUID(t)) for t in args.tenant_ids.split(",")]

    async def appender(n: int, start: float, until: float) -> list[float]:
        tenant, stream = tenants[n % len(tenants)], f"bench-{uuid.uuid4()}"
        version, latencies = 0, []
        while time.perf_counter() < until:
            began = time.perf_counter()
            if args.path == "single":
                await single_append(pool, tenant, stream, version)
            else:
                async with make(tenant_id=tenant) as uow:
                    if args.load:
                        version = len(await uow.events.load(stream))
                    context = AppendContext(tenant_id=tenant, recorded_at=datetime.now(UTC))
                    event = NewEvent("Ticked", {"n": version + 1})
                    await uow.events.append(stream, version, [event], context=context)
            version += 1
            if began >= start:
                latencies.append((time.perf_counter() - began) * 1000)
        return latencies

    warm_until = time.perf_counter() + args.warmup
    start, until = warm_until, warm_until + args.duration
    results = await asyncio.gather(*(appender(n, start, until) for n in range(args.appenders)))
    group = pool.group_commit
    print(
        json.dumps(
            {
                "latencies": [ms for r in results for ms in r],
                "batch_sizes": dict(group.batch_sizes),
                "busy_seconds": group.busy_seconds,
                "elapsed": time.perf_counter() - (start - args.warmup),
            }
        ),
        flush=True,
    )
    await pool.close()


def histogram(sizes: dict[int, int]) -> str:
    """Commands per batch in power-of-two buckets: `1: 40%, 2-3: 30%, ...` (share of commands)."""
    buckets: dict[str, int] = collections.defaultdict(int)
    total = sum(size * count for size, count in sizes.items()) or 1
    for size, count in sorted(sizes.items()):
        low = 1 << (size.bit_length() - 1)
        label = str(low) if low == 1 else f"{low}-{2 * low - 1}"
        buckets[label] += size * count
    return ", ".join(f"{label}: {100 * n / total:.0f}%" for label, n in buckets.items())


def migrate(dsn: str) -> None:
    """The database to head, by the release step's own command."""
    env = {**os.environ, "DATABASE_URL": dsn, "SECRET_KEY": "benchmark-" + "k" * 32}
    collabspace = os.path.join(os.path.dirname(sys.executable), "collabspace")
    subprocess.run([collabspace, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)


async def parent(args: argparse.Namespace) -> None:
    async with database() as dsn:
        migrate(dsn)
        app_dsn = dsn.replace("://postgres@", "://collabspace_app@", 1)
        tenants = ",".join(str(uuid.uuid4()) for _ in range(args.tenants))
        command = [
            sys.executable, os.path.abspath(__file__), "--child", "--dsn", app_dsn,
            "--tenant-ids", tenants, "--appenders", str(args.appenders), "--pool", str(args.pool),
            "--duration", str(args.duration), "--warmup", str(args.warmup), "--path", args.path,
        ] + (["--load"] if args.load else [])  # fmt: skip
        children = [
            await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
            for _ in range(args.processes)
        ]
        outputs = [json.loads((await c.communicate())[0]) for c in children]
    report(args, outputs)


def report(args: argparse.Namespace, outputs: list[dict[str, Any]]) -> None:
    latencies = sorted(ms for o in outputs for ms in o["latencies"])
    n = len(latencies)
    q = statistics.quantiles(latencies, n=100)
    sizes: dict[int, int] = collections.Counter()
    for o in outputs:
        sizes.update({int(k): v for k, v in o["batch_sizes"].items()})
    batches = sum(sizes.values())
    print(
        f"append database ({args.path}{', load' if args.load else ''}): "
        f"processes={args.processes} appenders={args.appenders} tenants={args.tenants} "
        f"duration={args.duration:.1f}s commands={n}"
    )
    print(
        f"throughput={n / args.duration:.0f} commands/s p50={q[49]:.2f} ms p99={q[98]:.2f} ms "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    if batches:
        mean = sum(size * count for size, count in sizes.items()) / batches
        busy = [o["busy_seconds"] / o["elapsed"] for o in outputs]
        print(
            f"batches={batches} commands/batch mean={mean:.1f} max={max(sizes)}; "
            f"share of commands by batch size: {histogram(sizes)}"
        )
        print(
            "batch writer busy (waiting on its batch call) "
            + ", ".join(f"{100 * b:.0f}%" for b in busy)
            + " of the run per process (warm-up included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--appenders", type=int, default=64, help="per process")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument(
        "--pool", type=int, default=8, help="pooled sessions per process (plus the batch writer)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not measured")
    parser.add_argument("--path", choices=("batch", "single"), default="batch")
    parser.add_argument("--load", action="store_true", help="read the stream per command")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--tenant-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_loop(child(args))  # a child stands for an API process, which uvicorn runs on uvloop
    else:
        asyncio.run(parent(args))


if __name__ == "__main__":
    main()
