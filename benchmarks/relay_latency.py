"""Relay benchmark: commit-to-Redis latency at a fixed commit rate, and the maximum drain rate.

    .venv/bin/python benchmarks/relay_latency.py [--rate 500] [--seconds 10] [--events 100000]
        [--relay process|inline] [--batch 500] [--pg postgres@127.0.0.1:5432]

It creates its own database (cs_relay_bench_<random>, migrated, dropped at the end) and starts
its own redis-server on a spare port, so nothing shared is disturbed.

1. Latency: writers commit one event per transaction at --rate commits/s (open loop, spread over
   10 writer tasks) while a Redis subscriber listens on the tenant channels. For each event,
   latency = receive time at the subscriber - the moment `async with uow` returned (both taken
   with perf_counter in this process). The relay runs as `python -m app.worker` (--relay process,
   the Procfile deployment) or as a task in this process (--relay inline, the in-API mode).
2. Throughput: --events rows are bulk-inserted, a fresh relay starts from position 0 and the
   time until its checkpoint reaches the head gives the sustained events/s (2 channels each).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import orjson
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.eventstore.port import NewEvent  # noqa: E402
from app.eventstore.postgres import PgPool, pg_uow_factory  # noqa: E402
from app.eventstore.reads import NOTIFY_CHANNEL  # noqa: E402
from app.kernel.db import make_engine  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.relay.loop import Relay, RelayConfig  # noqa: E402
from app.relay.publisher import RedisPublisher  # noqa: E402
from realtime.envelope import tenant_channel  # noqa: E402

WRITERS = 10
TENANTS = 10
PROJECTS = 100


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.Redis.from_url(url)
    try:
        for attempt in range(250):
            try:
                await client.ping()
                break
            except (OSError, aioredis.ConnectionError):
                if attempt == 249:
                    raise
                await asyncio.sleep(0.02)
    except BaseException:
        proc.terminate()  # never leave a stray redis-server behind
        proc.wait()
        raise
    finally:
        await client.aclose()
    return proc, url


async def admin(pg: str, sql: str) -> None:
    conn = await asyncpg.connect(f"postgresql://{pg}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class RelayRunner:
    def __init__(self, mode: str, db_url: str, redis_url: str, prefix: str, batch: int) -> None:
        self.mode, self.db_url, self.redis_url, self.prefix = mode, db_url, redis_url, prefix
        self.batch = batch
        self.mode_redis = "script"
        self.proc: subprocess.Popen[bytes] | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop = asyncio.Event()

    async def start(self) -> None:
        if self.mode == "process":
            env = dict(
                os.environ,
                DATABASE_URL=self.db_url,
                REDIS_URL=self.redis_url,
                CHANNEL_PREFIX=self.prefix,
                SECRET_KEY="bench-secret-key-0123456789",
            )
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.worker"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
            )
        else:
            self.engine = make_engine(self.db_url, pool_size=2)
            self.publisher = RedisPublisher(self.redis_url, mode=self.mode_redis)
            relay = Relay(
                self.engine,
                self.publisher,
                prefix=self.prefix,
                config=RelayConfig(batch_size=self.batch),
            )
            self.task = asyncio.create_task(relay.run(self.stop))

    async def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
        if self.task is not None:
            self.stop.set()
            await self.task
            await self.publisher.close()
            await self.engine.dispose()


async def latency(args: argparse.Namespace, db_url: str, redis_url: str) -> None:
    engine = make_engine(db_url, pool_size=WRITERS)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
    projects = [str(uuid.uuid4()) for _ in range(PROJECTS)]
    committed: dict[int, float] = {}
    received: dict[int, float] = {}
    channels = [tenant_channel(prefix, t) for t in tenants]
    ready, done = threading.Event(), threading.Event()

    async def listen() -> None:
        # Its own thread and event loop: the writers' loop being busy must not delay (and so
        # inflate) the receive timestamps. perf_counter is one clock for the whole process.
        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(*channels)
        ready.set()
        while not done.is_set():
            message = await pubsub.get_message(timeout=0.2)
            if message is not None and message["type"] == "message":
                now = time.perf_counter()
                received.setdefault(orjson.loads(message["data"])["position"], now)
        await pubsub.aclose()
        await client.aclose()

    listener = threading.Thread(target=asyncio.run, args=(listen(),), daemon=True)
    listener.start()
    ready.wait(10)
    relay = RelayRunner(args.relay, db_url, redis_url, prefix, args.batch)
    relay.mode_redis = args.publish
    await relay.start()
    await asyncio.sleep(3)  # the worker process boots and takes the lock
    pool = PgPool(db_url, size=WRITERS)
    make_uow = pg_uow_factory(pool)
    interval = WRITERS / args.rate

    dsn = db_url.replace("postgresql+asyncpg", "postgresql")
    raw = [await asyncpg.connect(dsn) for _ in range(WRITERS)] if args.writer == "raw" else []

    async def commit_uow(i: int, stream: str, version: int, project: int) -> int:
        uow = make_uow()
        async with uow:
            await uow.events.append(
                stream,
                version,
                [NewEvent("TaskMoved", {"status": "in_progress", "i": i})],
                context=uow.context(tenants[project % TENANTS]),
                project_id=projects[project],
            )
        return uow.position

    async def commit_raw(
        conn: asyncpg.Connection, i: int, stream: str, version: int, project: int
    ) -> int:
        # The same allocation as the UoW (the event_head row lock, NOTIFY in the transaction),
        # without the ORM's client-side cost, so the machine can reach the commit rate.
        async with conn.transaction():
            position = await conn.fetchval(
                RAW_APPEND,
                stream,
                version + 1,
                uuid.UUID(tenants[project % TENANTS]),
                uuid.UUID(projects[project]),
                orjson.dumps({"status": "in_progress", "i": i}).decode(),
            )
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(position))
        return int(position)

    async def writer(w: int) -> None:
        stream, version = f"task-{uuid.uuid4()}", 0
        project = w * (PROJECTS // WRITERS)
        start = time.perf_counter() + w * interval / WRITERS
        for i in range(int(args.seconds * args.rate / WRITERS)):
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            if raw:
                position = await commit_raw(raw[w], i, stream, version, project)
            else:
                position = await commit_uow(i, stream, version, project)
            committed[position] = time.perf_counter()
            version += 1

    began = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    achieved = len(committed) / (time.perf_counter() - began)
    deadline = time.perf_counter() + 10
    while len(received) < len(committed) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    for conn in raw:
        await conn.close()
    done.set()
    listener.join(5)
    await relay.close()
    await pool.close()
    await engine.dispose()
    # The first second is warm-up (connections, caches, JIT of nothing but still).
    warm = sorted(committed)[int(args.rate) :]
    lat = [(received[p] - committed[p]) * 1000 for p in warm if p in received]
    missing = len(committed) - sum(1 for p in committed if p in received)
    print(
        f"latency ({args.relay} relay, {args.writer} writers): target {args.rate}/s,"
        f" achieved {achieved:.0f} commits/s,"
        f" {len(lat)} samples, missing {missing}"
    )
    print(
        f"  p50 {pct(lat, 0.5):.2f} ms  p90 {pct(lat, 0.9):.2f} ms  p99 {pct(lat, 0.99):.2f} ms"
        f"  max {max(lat):.2f} ms  mean {statistics.fmean(lat):.2f} ms"
    )


RAW_APPEND = """
WITH head AS (UPDATE event_head SET position = position + 1 WHERE id = 1 RETURNING position)
INSERT INTO event (position, stream_id, version, tenant_id, project_id, type, schema_version,
                   data, metadata, recorded_at)
SELECT head.position, $1, $2, $3, $4, 'TaskMoved', 1, $5::jsonb,
       '{"correlation_id": null, "actor_id": null, "causation_id": null}'::jsonb, now()
FROM head
RETURNING position
"""

PRELOAD = """
INSERT INTO event (position, stream_id, version, tenant_id, project_id, type, schema_version,
                   data, metadata, recorded_at)
SELECT g, 'task-' || (g % 5000), g / 5000 + 1, ($2::uuid[])[1 + (g % 100) % 10],
       ($3::uuid[])[1 + g % 100], 'TaskMoved', 1,
       jsonb_build_object('project_id', ($3::uuid[])[1 + g % 100], 'status', 'in_progress',
                          'title', 'Write the relay benchmark', 'position_hint', g),
       jsonb_build_object('correlation_id', md5(g::text), 'actor_id', null, 'causation_id', null),
       now()
FROM generate_series(1, $1::int) AS g
"""


async def throughput(args: argparse.Namespace, db_url: str, redis_url: str) -> None:
    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg", "postgresql"))
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    projects = [uuid.uuid4() for _ in range(PROJECTS)]
    await conn.execute("TRUNCATE event; DELETE FROM relay_checkpoint")
    await conn.execute(PRELOAD, args.events, tenants, projects)
    await conn.execute("UPDATE event_head SET position = (SELECT max(position) FROM event)")
    await conn.execute("ANALYZE event")
    relay = RelayRunner("inline", db_url, redis_url, f"bench-{uuid.uuid4().hex[:8]}", args.batch)
    relay.mode_redis = args.publish
    began = time.perf_counter()
    await relay.start()
    while True:
        await asyncio.sleep(0.05)
        done = await conn.fetchval("SELECT position FROM relay_checkpoint WHERE name = 'main'")
        if done == args.events:
            break
    elapsed = time.perf_counter() - began
    await relay.close()
    await conn.close()
    print(
        f"throughput: {args.events} events (x2 channels) drained in {elapsed:.2f} s ="
        f" {args.events / elapsed:,.0f} events/s, batch {args.batch}, redis {args.publish}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--relay", choices=["process", "inline"], default="process")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--publish", choices=["script", "pipeline"], default="script")
    parser.add_argument("--writer", choices=["uow", "raw"], default="uow")
    parser.add_argument("--pg", default="postgres@127.0.0.1:5432")
    parser.add_argument("--skip", choices=["latency", "throughput"], default=None)
    args = parser.parse_args()
    name = f"cs_relay_bench_{uuid.uuid4().hex[:8]}"
    await admin(args.pg, f'CREATE DATABASE "{name}"')
    redis_proc, redis_url = await start_redis()
    db_url = f"postgresql+asyncpg://{args.pg}/{name}"
    try:
        engine = make_engine(db_url)
        await upgrade(engine)
        await engine.dispose()
        if args.skip != "latency":
            await latency(args, db_url, redis_url)
        if args.skip != "throughput":
            await throughput(args, db_url, redis_url)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
        await admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
