"""Global position across processes (issue 18): several real processes append through their
group commits while a reader tails by position; one of them dies in the middle of a batch;
and two real API processes take concurrent edits over HTTP.

Each writer process (tests/integration/append_writer.py) runs the real store as the app role
and prints what it was told was committed. The reader must see every committed event once, in
position order, with no hole, and the table must hold nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.eventstore.postgres import asyncpg_dsn
from app.settings import app_url_for
from tests.support import REDIS_URL, SECRET, sign_up

STREAMS = 30


class Writer:
    """One append_writer process and the commits it reported."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.commits: list[tuple[int, int, str]] = []
        self.killed = False
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            words = line.decode().split()
            if len(words) != 3 and self.killed:
                continue  # its last line, cut by the kill: never a commit it was told of
            assert len(words) == 3, line
            self.commits.append((int(words[0]), int(words[1]), words[2]))

    def kill(self) -> None:
        self.killed = True
        self.process.send_signal(signal.SIGKILL)

    def positions(self) -> list[int]:
        return [p for last, n, _ in self.commits for p in range(last - n + 1, last + 1)]


@contextlib.asynccontextmanager
async def writer(
    url: str, tenant: str, user: str, name: str, writers: int, appends: int, streams: list[str]
) -> AsyncIterator[Writer]:
    # The application name tells this process's sessions apart in pg_stat_activity.
    process_url = f"{url}?application_name={name}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.append_writer",
        *(process_url, tenant, user, name, str(writers), str(appends), *streams),
        stdout=asyncio.subprocess.PIPE,
    )
    running = Writer(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await running.reading


async def tail(connection: asyncpg.Connection, start: int, done: asyncio.Event) -> list[int]:
    """Positions after `start` as a tailing reader sees them, until `done` and caught up."""
    seen: list[int] = []
    while True:
        finished = done.is_set()
        rows = await connection.fetch(
            "SELECT position FROM event WHERE position > $1 ORDER BY position LIMIT 200",
            seen[-1] if seen else start,
        )
        seen.extend(r[0] for r in rows)
        if not rows:
            if finished:
                return seen
            await asyncio.sleep(0.002)


async def _check_store(owner: asyncpg.Connection, start: int, seen: list[int]) -> None:
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert seen == list(range(start + 1, start + 1 + len(seen))), "a hole or a reordering"
    table = [
        r[0] for r in await owner.fetch("SELECT position FROM event WHERE position > $1", start)
    ]
    assert sorted(table) == seen, "the reader missed a committed event"
    assert await owner.fetchval("SELECT position FROM event_head") == (seen[-1] if seen else start)
    # Every stream's versions are 1..n: no half of a command was written.
    broken = await owner.fetch(
        "SELECT stream_id FROM event GROUP BY stream_id HAVING max(version) <> count(*)"
    )
    assert broken == []


async def test_several_processes_append_gapless_in_commit_order(pg_url: str) -> None:
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    reader = await asyncpg.connect(asyncpg_dsn(pg_url))
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    streams = [f"task-{uuid.uuid4()}" for _ in range(STREAMS)]
    url = app_url_for(pg_url)
    try:
        start = int(await owner.fetchval("SELECT position FROM event_head"))
        done = asyncio.Event()
        tailing = asyncio.create_task(tail(reader, start, done))
        async with (
            writer(url, tenant, user, "w1", 12, 15, streams) as one,
            writer(url, tenant, user, "w2", 12, 15, streams) as two,
            writer(url, tenant, user, "w3", 12, 15, streams) as three,
        ):
            for process in (one, two, three):
                assert await asyncio.wait_for(process.process.wait(), 120) == 0
        done.set()
        seen = await asyncio.wait_for(tailing, 30)
        reported = sorted(one.positions() + two.positions() + three.positions())
        assert len(reported) >= 3 * 12 * 15
        assert reported == seen
        await _check_store(owner, start, seen)
    finally:
        await owner.close()
        await reader.close()


@pytest.mark.parametrize("backend_dies", [True, False], ids=["backend-dies", "process-only"])
async def test_a_process_killed_in_the_middle_of_a_batch_leaves_no_hole(
    pg_url: str, backend_dies: bool
) -> None:
    """The victim's batch is stopped after it moved the head and inserted its events: its
    Idempotency-Key insert waits on an uncommitted twin held by this test. Then the victim is
    killed (SIGKILL). If its database session dies too, the whole batch rolls back, head
    included; if only the process died, the statement finishes and commits or rolls back as a
    whole. Either way the survivors, waiting behind the head's lock, continue without a hole."""
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    reader = await asyncpg.connect(asyncpg_dsn(pg_url))
    blocker = await asyncpg.connect(asyncpg_dsn(pg_url))
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    streams = [f"task-{uuid.uuid4()}" for _ in range(STREAMS)]
    url = app_url_for(pg_url)
    # Keys the victim will use from its 40th command on, held uncommitted by `blocker`: the
    # first of its commands to pass its version check blocks on one (a command that fails
    # its check never reaches its key, and its retry takes the next number).
    traps = [f"victim-{n}" for n in range(40, 80)]
    try:
        start = int(await owner.fetchval("SELECT position FROM event_head"))
        await blocker.execute("BEGIN")
        await blocker.executemany(
            "INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash, status, body,"
            " created_at) VALUES ($1, $2, $3, 'h', 200, '{}', now())",
            [(uuid.UUID(tenant), uuid.UUID(user), trap) for trap in traps],
        )
        done = asyncio.Event()
        tailing = asyncio.create_task(tail(reader, start, done))
        async with (
            writer(url, tenant, user, "victim", 16, 0, streams) as victim,
            writer(url, tenant, user, "s1", 8, 15, streams) as one,
            writer(url, tenant, user, "s2", 8, 15, streams) as two,
        ):
            backend = await _stuck_batch(owner, "victim", blocker.get_server_pid())
            # Mid-batch: the victim's statement holds the head's lock and its inserted events.
            assert await owner.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE l.pid = $1 AND c.relname = 'event_head' AND l.granted",
                backend,
            )
            victim.kill()
            assert await victim.process.wait() == -signal.SIGKILL
            if backend_dies:
                await owner.execute("SELECT pg_terminate_backend($1)", backend)
            await blocker.execute("ROLLBACK")
            for process in (one, two):
                assert await asyncio.wait_for(process.process.wait(), 120) == 0
        done.set()
        seen = await asyncio.wait_for(tailing, 30)
        reported = set(victim.positions() + one.positions() + two.positions())
        assert reported <= set(seen)
        assert len(one.positions()) >= 8 * 15 and len(two.positions()) >= 8 * 15
        await _check_store(owner, start, seen)
        trapped = await owner.fetch(
            "SELECT (body->>'position')::bigint FROM idempotency_key WHERE key = ANY($1::text[])",
            traps,
        )
        if backend_dies:
            # The blocked batch rolled back with its backend: its key and its events.
            assert trapped == []
        else:
            # Whether the backend notices its client's death before the commit is up to it;
            # the batch is whole either way: its key is stored iff its events are.
            assert all(row[0] in seen for row in trapped)
        assert not set(traps) & {key for _, _, key in victim.commits}
    finally:
        for connection in (owner, reader, blocker):
            await connection.close()


async def _stuck_batch(owner: asyncpg.Connection, name: str, blocker: int) -> int:
    """The backend of `name`'s group commit once its batch waits on the trapped key (held by
    the `blocker` backend), mid-statement. A wait on another writer's head lock is not it: that
    batch commits a moment later."""
    for _ in range(3000):
        backend = await owner.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
            " AND query LIKE '%collabspace_append_batch%' AND state = 'active'"
            " AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            " AND $2 = ANY(pg_blocking_pids(pid))",
            name,
            blocker,
        )
        if backend is not None:
            return int(backend)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name}'s batch never blocked on the trapped key")


@contextlib.asynccontextmanager
async def api_process(pg_url: str) -> AsyncIterator[str]:
    """`collabspace serve` as the Procfile's web process runs it (requests as the app role,
    no projections or relay); yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "APP_DATABASE_URL": app_url_for(pg_url),
        "SECRET_KEY": SECRET,
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": f"cs-gc-{uuid.uuid4().hex[:8]}",
        "RUN_PROJECTIONS": "0",
        "RUN_RELAY": "0",
        "EMBEDDED_GATEWAY": "0",
    }
    collabspace = Path(sys.executable).parent / "collabspace"
    process = await asyncio.create_subprocess_exec(
        str(collabspace), "serve", "--host", "127.0.0.1", "--port", str(port), env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(400):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                assert process.returncode is None, "the API process exited"
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the API process never became ready")
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_several_api_processes_answer_positions_gapless_in_commit_order(
    pg_url: str,
) -> None:
    """Two real API processes take concurrent edits of the same tasks: each answered position
    is in the store, and the store's positions have no hole, as a tailing reader sees them."""
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    reader = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        async with api_process(pg_url) as one, api_process(pg_url) as two:
            async with httpx.AsyncClient(base_url=one, timeout=30) as client:
                me = await sign_up(client, tenant="Group commit")
                project = await client.post("/projects", json={"name": "P"}, headers=me["headers"])
                assert project.status_code == 201, project.text
                tasks = []
                for n in range(6):
                    task = await client.post(
                        f"/projects/{project.json()['id']}/tasks",
                        json={"title": f"t{n}"},
                        headers=me["headers"],
                    )
                    assert task.status_code == 201, task.text
                    tasks.append(task.json()["id"])
            start = int(await owner.fetchval("SELECT position FROM event_head"))
            done = asyncio.Event()
            tailing = asyncio.create_task(tail(reader, start, done))
            answered: list[int] = []
            statuses: list[int] = []

            async def editor(seed: int) -> None:
                rng = random.Random(seed)
                base = (one, two)[seed % 2]
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    for n in range(12):
                        response = await client.patch(
                            f"/tasks/{rng.choice(tasks)}",
                            json={"title": f"edit {seed}.{n}"},
                            headers=me["headers"],
                        )
                        statuses.append(response.status_code)
                        if response.status_code == 200:
                            answered.append(response.json()["position"])

            await asyncio.gather(*(editor(seed) for seed in range(16)))
            done.set()
            seen = await asyncio.wait_for(tailing, 30)
        assert set(statuses) <= {200, 409}, statuses
        assert statuses.count(200) >= len(statuses) // 2
        # Each edit answered its own position, and the store holds it.
        assert len(set(answered)) == len(answered)
        assert set(answered) <= set(seen)
        await _check_store(owner, start, seen)
    finally:
        await owner.close()
        await reader.close()
