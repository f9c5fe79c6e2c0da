"""Helpers for the relay suite: realistic writers, a real Redis subscriber, and the checks.

Every wait is a multiple of TIMEOUT so that a slow machine can stretch them all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.port import NewEvent
from app.eventstore.postgres import PgPool, pg_uow_factory
from app.eventstore.reads import read_after
from app.relay.loop import RelayConfig, envelope_of
from realtime.envelope import Envelope, channels_for, decode

TIMEOUT = float(os.environ.get("RELAY_TEST_TIMEOUT", "1.0"))
ROOT = Path(__file__).resolve().parents[2]
PG_HOST = os.environ.get("RELAY_TEST_PG", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("RELAY_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Relays in tests compete and back off quickly, so handovers and recoveries fit in seconds.
FAST = RelayConfig(standby_interval=0.2 * TIMEOUT, backoff_max=0.5 * TIMEOUT)


def pg_url(database: str, driver: str = "postgresql+asyncpg") -> str:
    return f"{driver}://{PG_HOST}/{database}"


async def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Workload:
    """Tenants with projects; each writer owns its task streams, so appends never conflict."""

    tenants: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(3)])
    projects: dict[str, list[str]] = field(default_factory=dict)
    users: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(4)])
    on_commit: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        for tenant in self.tenants:
            self.projects[tenant] = [str(uuid.uuid4()) for _ in range(4)]

    async def writer(self, engine: AsyncEngine, commits: int, seed: int, pace: float = 0) -> None:
        """One writer: `commits` transactions of 1-2 events over a few streams of its own."""
        rng = random.Random(seed)
        # The API's write path: its own pool on the engine's database.
        pool = PgPool(engine.url.render_as_string(hide_password=False), size=1)
        try:
            await self._write(pg_uow_factory(pool, on_commit=self.on_commit), rng, commits, pace)
        finally:
            await pool.close()

    async def _write(
        self, make_uow: Callable[[], Any], rng: random.Random, commits: int, pace: float
    ) -> None:
        versions: dict[str, int] = {}
        streams = [
            (f"task-{uuid.uuid4()}", tenant, rng.choice(self.projects[tenant]))
            for tenant in rng.sample(self.tenants, 2)
        ]
        for _ in range(commits):
            stream, tenant, project = rng.choice(streams)
            events = self._events(rng, project, stream in versions)
            uow = make_uow()
            async with uow:
                await uow.events.append(
                    stream,
                    versions.get(stream, 0),
                    events,
                    context=uow.context(tenant),
                    project_id=project,
                )
            versions[stream] = versions.get(stream, 0) + len(events)
            if pace:
                await asyncio.sleep(pace)

    def _events(self, rng: random.Random, project: str, exists: bool) -> list[NewEvent]:
        if not exists:
            return [NewEvent("TaskCreated", {"project_id": project, "title": "t"})]
        roll = rng.random()
        if roll < 0.15:
            kind = rng.choice(["ProjectMemberAdded", "ProjectMemberRemoved"])
            return [NewEvent(kind, {"project_id": project, "user_id": rng.choice(self.users)})]
        moved = NewEvent("TaskMoved", {"project_id": project, "status": "in_progress"})
        if roll < 0.4:
            return [moved, NewEvent("TaskEdited", {"project_id": project, "title": "u"})]
        return [moved]

    async def burst(self, engine: AsyncEngine, writers: int, commits: int, pace: float = 0) -> None:
        await asyncio.gather(*(self.writer(engine, commits, seed, pace) for seed in range(writers)))


class Subscriber:
    """A real Redis subscriber on every channel under a prefix, keeping what arrived in order."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._prefix = prefix
        self._task: asyncio.Task[None] | None = None
        self.received: list[Envelope] = []

    async def start(self) -> None:
        await self._pubsub.psubscribe(f"{self._prefix}:*")
        # psubscribe returns before the server confirms; wait for the confirmation.
        while True:
            message = await self._pubsub.get_message(timeout=5 * TIMEOUT)
            if message is not None and message["type"] == "psubscribe":
                break
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self._pubsub.listen():
                if message["type"] == "pmessage":
                    self.received.append(decode(message["data"]))

    def positions(self) -> set[int]:
        return {env.position for env in self.received}

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._redis.aclose()


@contextlib.asynccontextmanager
async def subscribed(url: str, prefix: str) -> AsyncIterator[Subscriber]:
    subscriber = Subscriber(url, prefix)
    await subscriber.start()
    try:
        yield subscriber
    finally:
        await subscriber.close()


async def expected_channels(engine: AsyncEngine, prefix: str) -> dict[str, list[int]]:
    """What each channel must carry, in order, computed from the store on its own."""
    expected: dict[str, list[int]] = defaultdict(list)
    async with engine.connect() as conn:
        for event in await read_after(conn, 0, 1_000_000):
            for channel in channels_for(prefix, envelope_of(event)):
                expected[channel].append(event.position)
    return dict(expected)


def first_seen_by_channel(received: list[Envelope]) -> dict[str, list[Envelope]]:
    """Per channel, what a client keeps: each position the first time it arrives."""
    seen: dict[str, set[int]] = defaultdict(set)
    kept: dict[str, list[Envelope]] = defaultdict(list)
    for env in received:
        if env.position not in seen[env.channel]:
            seen[env.channel].add(env.position)
            kept[env.channel].append(env)
    return dict(kept)


def assert_complete_and_ordered(received: list[Envelope], expected: dict[str, list[int]]) -> None:
    """Every channel got every position, first arrivals in order, each `prev` its predecessor."""
    kept = first_seen_by_channel(received)
    assert set(kept) == set(expected)
    for channel, positions in expected.items():
        got = [env.position for env in kept[channel]]
        assert got == positions, f"{channel}: order or completeness broken"
        prevs = [env.prev for env in kept[channel]]
        assert prevs == [None, *positions[:-1]], f"{channel}: prev chain broken"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on a spare port (a temporary directory, nothing persisted) that a
    test may stop and start again; never the shared one."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="cs-test-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 5 * TIMEOUT
            while True:
                try:
                    await client.ping()
                    return
                except (OSError, aioredis.ConnectionError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bound."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10 * TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


class WorkerProcess:
    """`python -m app.worker` as a real child process, its log captured in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            cwd=ROOT,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def leads(self) -> bool:
        return " leads from position " in self.log()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10 * TIMEOUT)

    def terminate(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10 * TIMEOUT)
