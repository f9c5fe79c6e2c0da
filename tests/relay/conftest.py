"""Fixtures for the relay suite: real PostgreSQL and Redis, isolated per run and per test.

A run creates one migrated template database `cs_relay_<random>`; each test gets its own copy
(CREATE DATABASE ... TEMPLATE, much faster than migrating again) and every database is dropped
at the end. Redis 127.0.0.1:6379 is shared with others: tests only use channels under a prefix
of their own and never flush anything.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kernel.db import make_engine
from app.migrate import upgrade
from app.relay.loop import Relay
from app.relay.publisher import RedisPublisher
from tests.relay.relay_support import (
    REDIS_URL,
    TIMEOUT,
    RedisServer,
    WorkerProcess,
    free_port,
    pg_url,
)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_url("postgres", "postgresql"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_db() -> AsyncIterator[str]:
    name = f"cs_relay_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(pg_url(name))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    yield name
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(template_db: str) -> AsyncIterator[str]:
    name = f"{template_db}_{uuid.uuid4().hex[:6]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg_url(name)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=12)
    yield engine
    await engine.dispose()


@pytest.fixture
def prefix() -> str:
    return f"csrelaytest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
async def redis_publisher(redis_url: str) -> AsyncIterator[RedisPublisher]:
    publisher = RedisPublisher(redis_url)
    yield publisher
    await publisher.close()


@pytest.fixture
async def start_relay() -> AsyncIterator[Callable[[Relay], asyncio.Event]]:
    """Start in-process relays as tasks; all are stopped (and awaited) after the test."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(relay: Relay) -> asyncio.Event:
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(relay.run(stop))))
        return stop

    yield start
    for stop, _ in running:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*(task for _, task in running)), 30 * TIMEOUT)


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port())
    await server.start()
    yield server
    server.stop()


@pytest.fixture
def worker_env(database_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=prefix,
        SECRET_KEY="relay-test-secret-key-0123456789",
        # These workers are under test as relays: the worker's projection runner (on by
        # default) would only add load to their timing.
        RUN_PROJECTIONS="0",
    )
    return env


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Worker processes started by the test; any still alive are killed afterwards."""
    spawned: list[WorkerProcess] = []
    yield spawned
    for worker in spawned:
        if worker.process is not None and worker.process.poll() is None:
            worker.kill()
