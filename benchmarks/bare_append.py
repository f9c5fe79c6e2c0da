"""Calibration: the floor the write benchmark is measured against.

Issue 2 scales its target by "a bare Starlette + asyncpg endpoint that appends one event under
a lock": `--variant locked` (one POST, a transaction with an advisory lock, one INSERT). Issue 18
measures against the plain floor, `--variant plain`: one INSERT in its own
transaction, no lock, so PostgreSQL may group the concurrent commits' WAL flushes. Either runs
under the same uvicorn and is driven by the same lean client and 32 concurrent connections as
`write_mutations.py`, so the rates can be compared in one sitting on the same machine.

    .venv/bin/python benchmarks/bare_append.py [--variant locked|plain] [--duration 10]
        [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lean_http import LeanClient  # noqa: E402
from write_mutations import cpu_seconds, database, free_port, postgres_cpu_seconds  # noqa: E402

SCHEMA = """
CREATE TABLE bare_event (
    position bigserial PRIMARY KEY,
    stream_id text NOT NULL,
    data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""

APP = """
import contextlib, os, asyncpg, orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

pool = None

@contextlib.asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(os.environ["BARE_DSN"], min_size=32, max_size=32)
    yield
    await pool.close()

INSERT = ("INSERT INTO bare_event (stream_id, data) VALUES ($1, $2::jsonb)"
          " RETURNING position")

async def append(request):
    body = await request.body()
    async with pool.acquire() as connection:
        if os.environ["BARE_VARIANT"] == "plain":
            # One statement, its own transaction: concurrent commits share WAL flushes.
            position = await connection.fetchval(
                INSERT, request.path_params["stream"], body.decode())
        else:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(1)")
                position = await connection.fetchval(
                    INSERT, request.path_params["stream"], body.decode())
    return Response(orjson.dumps({"position": position}), media_type="application/json")

app = Starlette(routes=[Route("/streams/{stream}", append, methods=["POST"])],
                lifespan=lifespan)
"""


async def drive(port: int, stream: int, until: float) -> list[float]:
    latencies = []
    async with LeanClient("127.0.0.1", port) as client:
        while time.perf_counter() < until:
            started = time.perf_counter()
            status, _ = await client.request("POST", f"/streams/s{stream}", {"type": "Bare"})
            assert status == 200, status
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def run(args: argparse.Namespace) -> None:
    async with database() as dsn:
        connection = await asyncpg.connect(dsn)
        await connection.execute(SCHEMA)
        await connection.close()
        port = free_port()
        env = {**os.environ, "BARE_DSN": dsn, "BARE_VARIANT": args.variant, "PYTHONPATH": "."}
        workdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "bare_app.py"), "w") as f:
            f.write(APP)
        uvicorn = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
        process = subprocess.Popen([*uvicorn, "--log-level", "warning"], env=env, cwd=workdir)
        try:
            for _ in range(200):
                try:
                    async with LeanClient("127.0.0.1", port) as probe:
                        await probe.request("POST", "/streams/warm", {})
                    break
                except (OSError, asyncio.IncompleteReadError):
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the bare app did not start")
            warm = time.perf_counter() + 2
            await asyncio.gather(*(drive(port, c, warm) for c in range(args.clients)))
            cpu0, pg0 = cpu_seconds(process.pid), postgres_cpu_seconds()
            client0 = time.process_time()
            started = time.perf_counter()
            until = started + args.duration
            results = await asyncio.gather(*(drive(port, c, until) for c in range(args.clients)))
            elapsed = time.perf_counter() - started
            server = cpu_seconds(process.pid) - cpu0
            pg = postgres_cpu_seconds() - pg0
            client = time.process_time() - client0
        finally:
            process.terminate()
            process.wait(timeout=10)
            os.remove(os.path.join(workdir, "bare_app.py"))
    latencies = sorted(ms for r in results for ms in r)
    n = len(latencies)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"bare append ({args.variant}): clients={args.clients} duration={elapsed:.1f}s requests={n}"
    )
    print(
        f"throughput={n / elapsed:.0f} requests/s p50={q[49]:.1f} ms p99={q[98]:.1f} ms "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(
        f"server CPU {1000 * server / n:.2f} ms/request, postgres CPU <= {1000 * pg / n:.2f} "
        f"ms/request, client CPU {1000 * client / n:.2f} ms/request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--variant",
        choices=("plain", "locked"),
        default="locked",
        help="one INSERT in its own transaction (the floor of issue 18), or under an advisory "
        "lock in a transaction (issue 2's floor)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
