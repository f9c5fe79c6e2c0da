"""Group commit (issue 18): concurrent commands of a process are written by one call, each
command still checked on its own, on the real PostgreSQL store as the app role."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from app import migrate
from app.eventstore.idempotency import IdempotencyRecord
from app.eventstore.port import AppendContext, NewEvent
from app.eventstore.postgres import PgPool, asyncpg_dsn, pg_uow_factory
from app.eventstore.postgres.group import GroupCommit, command_of
from app.kernel.db import make_engine
from app.kernel.domain import ConcurrencyError
from app.settings import app_url_for
from tests.support import fresh_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ctx(tenant: str) -> AppendContext:
    return AppendContext(tenant_id=tenant, recorded_at=T0, actor_id=None, correlation_id="c")


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[PgPool]:
    pool = PgPool(app_url_for(pg_url), size=40)
    yield pool
    await pool.close()


async def _events(pg_url: str, streams: list[str]) -> list[tuple[str, int, int]]:
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        rows = await owner.fetch(
            "SELECT stream_id, version, position FROM event WHERE stream_id = ANY($1)"
            " ORDER BY position",
            streams,
        )
    finally:
        await owner.close()
    return [(r[0], r[1], r[2]) for r in rows]


async def _append_at_once(
    pool: PgPool, commands: list[tuple[str, str, int, int]]
) -> list[int | BaseException]:
    """Commit (tenant, stream, expected version, events) commands concurrently: all of them
    reach the group commit while the first batch is being written."""
    make = pg_uow_factory(pool)

    async def one(tenant: str, stream: str, expected: int, count: int) -> int:
        async with make(tenant_id=tenant) as uow:
            await uow.events.append(
                stream,
                expected,
                [NewEvent("E", {"n": n}) for n in range(count)],
                context=ctx(tenant),
            )
        return uow.position

    return await asyncio.gather(*(one(*c) for c in commands), return_exceptions=True)


async def test_concurrent_commands_of_several_tenants_share_batches_with_gapless_positions(
    pool: PgPool, pg_url: str
) -> None:
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    commands = [(tenants[i % 3], f"task-{uuid.uuid4()}", 0, 1 + i % 3) for i in range(60)]
    results = await _append_at_once(pool, commands)
    assert all(isinstance(r, int) for r in results), results
    sizes = pool.group_commit.batch_sizes
    assert sum(n * count for n, count in sizes.items()) == 60
    assert max(sizes) > 1, sizes  # written in batches, not one call per command
    rows = await _events(pg_url, [c[1] for c in commands])
    positions = [p for _, _, p in rows]
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    # Each command's events are consecutive, its last one the position it was answered.
    for (_, stream, _, count), last in zip(commands, results, strict=True):
        mine = [(v, p) for s, v, p in rows if s == stream]
        assert mine == [(v, last - count + v) for v in range(1, count + 1)]


async def test_a_command_failing_its_version_check_fails_alone(pool: PgPool, pg_url: str) -> None:
    tenant = str(uuid.uuid4())
    contested, others = f"task-{uuid.uuid4()}", [f"task-{uuid.uuid4()}" for _ in range(10)]
    commands = [(tenant, s, 0, 1) for s in others[:5]]
    # Three commands read the contested stream at version 0: the first in the batch wins.
    commands += [(tenant, contested, 0, 2)] * 3 + [(tenant, s, 0, 1) for s in others[5:]]
    # A stale version (the stream does not exist yet) in the middle of the batch.
    commands.insert(4, (tenant, f"task-{uuid.uuid4()}", 3, 1))
    results = await _append_at_once(pool, commands)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 3 and all(isinstance(f, ConcurrencyError) for f in failures)
    rows = await _events(pg_url, [contested, *others])
    assert sorted(s for s, _, _ in rows) == sorted([contested] * 2 + others)
    positions = [p for _, _, p in rows]
    assert positions == list(range(positions[0], positions[0] + 12))


async def test_a_twin_idempotency_key_in_the_same_batch_fails_alone(
    pool: PgPool, pg_url: str
) -> None:
    tenant, user, key = str(uuid.uuid4()), str(uuid.uuid4()), f"k-{uuid.uuid4()}"
    make = pg_uow_factory(pool)
    streams = [f"task-{uuid.uuid4()}" for _ in range(2)]

    async def keyed(stream: str) -> int:
        async with make(tenant_id=tenant) as uow:
            await uow.events.append(stream, 0, [NewEvent("E", {})], context=ctx(tenant))
            await uow.idempotency.put(tenant, user, key, IdempotencyRecord("h", 201, {}), T0)
        return uow.position

    results = await asyncio.gather(*(keyed(s) for s in streams), return_exceptions=True)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 1 and isinstance(
        next(r for r in results if isinstance(r, BaseException)), ConcurrencyError
    )
    assert len(await _events(pg_url, streams)) == 1
    async with make(tenant_id=tenant) as uow:
        stored = await uow.idempotency.get(tenant, user, key)
    assert stored is not None and stored.body == {"position": won[0]}


async def test_an_unexpected_error_retries_the_batch_one_by_one(pool: PgPool, pg_url: str) -> None:
    tenant = str(uuid.uuid4())
    make = pg_uow_factory(pool)
    streams = [f"task-{uuid.uuid4()}" for _ in range(8)]

    async def one(stream: str, project: str | None) -> int:
        async with make(tenant_id=tenant) as uow:
            await uow.events.append(
                stream, 0, [NewEvent("E", {})], context=ctx(tenant), project_id=project
            )
        return uow.position

    # One command carries a project id that is no UUID: the batch's INSERT fails as a whole.
    projects: list[str | None] = [None] * 8
    projects[3] = "not-a-uuid"
    results = await asyncio.gather(
        *(one(s, p) for s, p in zip(streams, projects, strict=True)), return_exceptions=True
    )
    assert isinstance(results[3], asyncpg.InvalidTextRepresentationError), results[3]
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 3), results
    rows = await _events(pg_url, streams)
    assert sorted(s for s, _, _ in rows) == sorted(streams[:3] + streams[4:])
    positions = [p for _, _, p in rows]
    assert positions == list(range(positions[0], positions[0] + 7))


async def test_batches_are_capped_in_events_and_bytes(pg_url: str) -> None:
    pool = PgPool(app_url_for(pg_url), size=40)
    pool.group_commit = GroupCommit(asyncpg_dsn(app_url_for(pg_url)), max_events=5)
    tenant = str(uuid.uuid4())
    try:
        commands = [(tenant, f"task-{uuid.uuid4()}", 0, 2) for _ in range(20)]
        # One command larger than the cap is written alone.
        commands.append((tenant, f"task-{uuid.uuid4()}", 0, 9))
        results = await _append_at_once(pool, commands)
        assert all(isinstance(r, int) for r in results), results
        assert max(pool.group_commit.batch_sizes) == 2, pool.group_commit.batch_sizes
    finally:
        await pool.close()
    small = PgPool(app_url_for(pg_url), size=40)
    small.group_commit = GroupCommit(asyncpg_dsn(app_url_for(pg_url)), max_bytes=200)
    try:
        results = await _append_at_once(
            small, [(tenant, f"task-{uuid.uuid4()}", 0, 1) for _ in range(20)]
        )
        assert all(isinstance(r, int) for r in results), results
        # About 50 bytes of data and metadata per event: at most four per batch.
        assert 1 < max(small.group_commit.batch_sizes) <= 4, small.group_commit.batch_sizes
    finally:
        await small.close()


async def test_a_stream_appended_twice_in_one_command_continues_its_own_append(
    pool: PgPool, pg_url: str
) -> None:
    tenant, stream = str(uuid.uuid4()), f"task-{uuid.uuid4()}"
    make = pg_uow_factory(pool)
    async with make(tenant_id=tenant) as uow:
        await uow.events.append(stream, 0, [NewEvent("A", {})], context=ctx(tenant))
        await uow.events.append(
            stream, 1, [NewEvent("B", {}), NewEvent("C", {})], context=ctx(tenant)
        )
    assert [v for _, v, _ in await _events(pg_url, [stream])] == [1, 2, 3]
    # Back to the stream after another one: positions follow the order of the appends.
    other = f"task-{uuid.uuid4()}"
    async with make(tenant_id=tenant) as uow:
        await uow.events.append(stream, 3, [NewEvent("D", {})], context=ctx(tenant))
        await uow.events.append(other, 0, [NewEvent("X", {})], context=ctx(tenant))
        await uow.events.append(stream, 4, [NewEvent("E", {})], context=ctx(tenant))
    rows = await _events(pg_url, [stream, other])
    assert [(s == other, v) for s, v, _ in rows][-3:] == [(False, 4), (True, 1), (False, 5)]
    with pytest.raises(ConcurrencyError):
        async with make(tenant_id=tenant) as uow:
            await uow.events.append(stream, 5, [NewEvent("F", {})], context=ctx(tenant))
            await uow.events.append(stream, 5, [NewEvent("F2", {})], context=ctx(tenant))
    assert [v for _, v, _ in await _events(pg_url, [stream])] == [1, 2, 3, 4, 5]


async def test_without_a_database_every_command_of_the_batch_fails_with_the_connection_error(
    pg_url: str,
) -> None:
    """The writer's connection refused: every waiting command gets that error (the API's 503)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        group = GroupCommit(f"postgresql://collabspace_app@127.0.0.1:{port}/none")
        tenant = str(uuid.uuid4())
        commands = [
            command_of(
                tenant, tenant, [(f"task-{n}", 0, [NewEvent("E", {})], None, "{}", T0)], None
            )
            for n in range(5)
        ]
        results = await asyncio.gather(*(group.write(c) for c in commands), return_exceptions=True)
        await group.close()
    assert all(isinstance(r, OSError) for r in results), results


async def _batch_settings(url: str) -> list[str]:
    owner = await asyncpg.connect(asyncpg_dsn(url))
    try:
        config = await owner.fetchval(
            "SELECT proconfig FROM pg_proc WHERE proname = 'collabspace_append_batch'"
        )
    finally:
        await owner.close()
    return sorted(config)


async def test_the_batch_function_keeps_generic_plans_and_the_migration_goes_back() -> None:
    # Migration 0012: the function's own setting, so a batch's size never makes PostgreSQL
    # plan its statements again; the downgrade leaves 0008's function as it was.
    async with fresh_database(prefix="cs_test_batchplan") as url:
        engine = make_engine(url)
        try:
            await migrate.upgrade(engine)
            assert await _batch_settings(url) == [
                "plan_cache_mode=force_generic_plan",
                "search_path=public, pg_temp",
            ]
            await migrate.downgrade(engine, "0011_search_fast")
            assert await _batch_settings(url) == ["search_path=public, pg_temp"]
            await migrate.upgrade(engine)
            assert "plan_cache_mode=force_generic_plan" in await _batch_settings(url)
        finally:
            await engine.dispose()
