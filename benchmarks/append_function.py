"""Benchmark: `collabspace_append_batch` alone, one session, sequential calls (issue 18).

What one batch call costs PostgreSQL, apart from HTTP, the API's Python and other sessions:
creates its own database (dropped at the end), migrates it, and calls the function as the app
role `--calls` times with `--commands` single-event commands per call (each on its own stream,
at its known version, with an Idempotency-Key record when `--keys`). Prints wall time per call
and the CPU time of the PostgreSQL backend that ran the calls, per call and per command: the
figure that survives a shared machine. `--no-sync` turns synchronous_commit off for the
session, to see the CPU without the wait for the flush.

    .venv/bin/python benchmarks/append_function.py [--commands 16] [--calls 1500] [--keys]
        [--no-sync]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from append_database import migrate  # noqa: E402
from write_mutations import database  # noqa: E402

from app.eventstore.postgres.sql import APPEND_BATCH  # noqa: E402

WARMUP_CALLS = 20


def arguments(tenants: list[str], streams: list[str], versions: list[int], keys: bool) -> Any:
    """The 20 arrays of one call: one single-event command per stream."""
    n, now = len(streams), datetime.now(UTC)
    meta = json.dumps({"actor_id": None, "correlation_id": None, "causation_id": None})
    keyed = [None] * n if not keys else None
    return (
        tenants, tenants,
        keyed or tenants, keyed or [str(uuid.uuid4()) for _ in range(n)], keyed or ["h"] * n,
        keyed or [200] * n, keyed or ['{"id": "x"}'] * n, keyed or [now] * n,
        list(range(1, n + 1)), streams, versions, [1] * n,
        list(range(1, n + 1)), [v + 1 for v in versions], [None] * n, ["Ticked"] * n,
        [1] * n, ['{"title": "Edited 1"}'] * n, [meta] * n, [now] * n,
    )  # fmt: skip


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> None:
    async with database() as dsn:
        migrate(dsn)
        settings = {"jit": "off", "TimeZone": "UTC"}
        if args.no_sync:
            settings["synchronous_commit"] = "off"
        app_dsn = dsn.replace("://postgres@", "://collabspace_app@", 1)
        connection = await asyncpg.connect(app_dsn, server_settings=settings)
        try:
            pid = await connection.fetchval("SELECT pg_backend_pid()")
            tenants = [str(uuid.uuid4()) for _ in range(4)]
            versions = {f"bench-{uuid.uuid4()}": 0 for _ in range(args.commands)}
            callers = [tenants[i % len(tenants)] for i in range(args.commands)]
            started = cpu = 0.0
            for call in range(WARMUP_CALLS + args.calls):
                if call == WARMUP_CALLS:
                    started, cpu = time.perf_counter(), backend_cpu(pid)
                streams = list(versions)
                at = [versions[s] for s in streams]
                rows = await connection.fetch(
                    APPEND_BATCH, *arguments(callers, streams, at, args.keys)
                )
                assert all(failure is None for _, _, failure in rows), rows
                for stream in streams:
                    versions[stream] += 1
            wall = (time.perf_counter() - started) / args.calls
            per_call = (backend_cpu(pid) - cpu) / args.calls
        finally:
            await connection.close()
    print(
        f"append function: commands/call={args.commands} calls={args.calls} keys={args.keys} "
        f"synchronous_commit={'off' if args.no_sync else 'on'}"
    )
    print(
        f"wall {1000 * wall:.3f} ms/call; backend CPU {1e6 * per_call:.0f} µs/call, "
        f"{1e6 * per_call / args.commands:.1f} µs/command "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=16, help="commands per call")
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--keys", action="store_true", help="an Idempotency-Key per command")
    parser.add_argument("--no-sync", action="store_true", help="synchronous_commit off")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
