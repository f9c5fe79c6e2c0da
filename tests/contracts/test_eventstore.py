"""One contract for the EventStore port, run against both adapters: the in-memory fake of the
unit tests and the PostgreSQL one (app.eventstore.postgres)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.eventstore.port import AppendContext, EventStore, InMemoryEventStore, NewEvent
from app.eventstore.postgres import PgPool, pg_uow_factory
from app.kernel.domain import ConcurrencyError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
StoreFactory = Callable[[], AbstractAsyncContextManager[EventStore]]


@asynccontextmanager
async def memory_store() -> AsyncIterator[EventStore]:
    yield InMemoryEventStore()


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[StoreFactory]:
    if request.param == "memory":
        shared = InMemoryEventStore()

        @asynccontextmanager
        async def same() -> AsyncIterator[EventStore]:
            # One unit of work's view (its own conditions) of the shared events.
            yield shared.unit()

        yield same
        return
    pool = PgPool(pg_url, size=4)
    make_pg = pg_uow_factory(pool)

    @asynccontextmanager
    async def committed_pg() -> AsyncIterator[EventStore]:
        async with make_pg() as uow:
            yield uow.events

    yield committed_pg
    await pool.close()


def ctx(tenant: str, at: datetime = T0) -> AppendContext:
    return AppendContext(tenant_id=tenant, recorded_at=at, actor_id=None, correlation_id="c-1")


async def test_appended_events_load_back_in_version_order(store: StoreFactory) -> None:
    tenant, stream = str(uuid.uuid4()), f"task-{uuid.uuid4()}"
    async with store() as s:
        stored = await s.append(
            stream, 0, [NewEvent("A", {"n": 1}), NewEvent("B", {"n": 2})], context=ctx(tenant)
        )
    assert [e.version for e in stored] == [1, 2]
    assert stored[1].position == stored[0].position + 1
    async with store() as s:
        loaded = await s.load(stream)
    assert [(e.type, e.data, e.version, e.tenant_id) for e in loaded] == [
        ("A", {"n": 1}, 1, tenant),
        ("B", {"n": 2}, 2, tenant),
    ]
    assert loaded[0].metadata["correlation_id"] == "c-1"


async def test_appending_at_a_stale_version_is_a_concurrency_error(store: StoreFactory) -> None:
    tenant, stream = str(uuid.uuid4()), f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(stream, 0, [NewEvent("A", {})], context=ctx(tenant))
    with pytest.raises(ConcurrencyError):
        async with store() as s:
            await s.append(stream, 0, [NewEvent("A2", {})], context=ctx(tenant))
    async with store() as s:
        assert [e.type for e in await s.load(stream)] == ["A"]


async def test_load_can_stop_at_a_version_or_a_time(store: StoreFactory) -> None:
    tenant, stream = str(uuid.uuid4()), f"task-{uuid.uuid4()}"
    for version in range(3):
        async with store() as s:
            await s.append(
                stream,
                version,
                [NewEvent(f"E{version}", {})],
                context=ctx(tenant, T0 + timedelta(minutes=version)),
            )
    async with store() as s:
        assert [e.type for e in await s.load(stream, to_version=2)] == ["E0", "E1"]
        assert [e.type for e in await s.load(stream, until=T0 + timedelta(seconds=30))] == ["E0"]


async def test_read_after_returns_later_events_in_position_order(store: StoreFactory) -> None:
    tenant, stream = str(uuid.uuid4()), f"p-{uuid.uuid4()}"
    async with store() as s:
        await s.append(stream, 0, [NewEvent("X", {})], context=ctx(tenant))
    async with store() as s:
        await s.append(
            f"p-{uuid.uuid4()}", 0, [NewEvent("Y", {}), NewEvent("Z", {})], context=ctx(tenant)
        )
    async with store() as s:
        # Positions as committed (an adapter may only assign them at commit).
        first = await s.load(stream)
        after = await s.read_after(first[0].position, 10)
    positions = [e.position for e in after]
    assert positions == sorted(positions)
    assert [e.type for e in after][-2:] == ["Y", "Z"]


async def test_read_types_answers_one_tenants_events_of_those_types_in_position_order(
    store: StoreFactory,
) -> None:
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    project, elsewhere = str(uuid.uuid4()), str(uuid.uuid4())
    async with store() as s:
        await s.append(
            f"t-{uuid.uuid4()}",
            0,
            [NewEvent("A", {"n": 1}), NewEvent("B", {"n": 2}), NewEvent("A", {"n": 3})],
            context=ctx(tenant),
            project_id=project,
        )
    async with store() as s:
        await s.append(
            f"t-{uuid.uuid4()}",
            0,
            [NewEvent("A", {"n": 4})],
            context=ctx(tenant),
            project_id=elsewhere,
        )
    async with store() as s:
        await s.append(f"t-{uuid.uuid4()}", 0, [NewEvent("A", {"n": 5})], context=ctx(other))
    async with store() as s:
        of_tenant = await s.read_types(tenant, ["A"])
        of_project = await s.read_types(tenant, ["A", "B"], project_id=project)
        none = await s.read_types(tenant, ["C"])
    assert [e.data["n"] for e in of_tenant] == [1, 3, 4]
    assert [e.data["n"] for e in of_project] == [1, 2, 3]
    assert [e.position for e in of_tenant] == sorted(e.position for e in of_tenant)
    assert none == []


async def test_positions_are_gapless_across_pools_on_one_database(pg_url: str) -> None:
    """Two pools (as two processes would) allocate from the same head (event_head)."""
    pool, other = PgPool(pg_url, size=4), PgPool(pg_url, size=4)
    tenant = str(uuid.uuid4())
    positions: list[int] = []
    try:
        for make in (pg_uow_factory(pool), pg_uow_factory(other)) * 2:
            async with make() as uow:
                await uow.events.append(
                    f"task-{uuid.uuid4()}",
                    0,
                    [NewEvent("A", {}), NewEvent("B", {})],
                    context=ctx(tenant),
                )
            # The committed position: the asyncpg adapter assigns positions at commit.
            positions += [uow.position - 1, uow.position]
    finally:
        await pool.close()
        await other.close()
    assert positions == list(range(positions[0], positions[0] + 8))


async def test_prefetched_streams_load_exactly_as_without_prefetch(store: StoreFactory) -> None:
    tenant = str(uuid.uuid4())
    task, project, absent = (f"{kind}-{uuid.uuid4()}" for kind in ("task", "project", "task"))
    async with store() as s:
        await s.append(task, 0, [NewEvent("A", {"n": 1}), NewEvent("B", {})], context=ctx(tenant))
        await s.append(project, 0, [NewEvent("P", {"n": n}) for n in range(3)], context=ctx(tenant))
    async with store() as s:
        s.prefetch([project, absent])
        assert [e.type for e in await s.load(task, after_version=1)] == ["B"]
        assert [e.version for e in await s.load(project, after_version=1)] == [2, 3]
        assert await s.load(absent) == []
        # Asked again, a stream reads what it would have read the first time.
        assert [e.version for e in await s.load(project, to_version=2)] == [1, 2]
    async with store() as s:
        s.prefetch([task])
        assert [e.version for e in await s.load(task)] == [1, 2]


async def test_a_stream_appended_after_its_prefetch_is_never_answered_stale(
    store: StoreFactory,
) -> None:
    tenant, first, second = str(uuid.uuid4()), f"task-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(first, 0, [NewEvent("A", {})], context=ctx(tenant))
        await s.append(second, 0, [NewEvent("A", {})], context=ctx(tenant))
    async with store() as s:
        s.prefetch([second])
        await s.load(first)
        await s.append(second, 1, [NewEvent("B", {})], context=ctx(tenant))
    async with store() as s:
        assert [e.type for e in await s.load(second)] == ["A", "B"]


async def test_postgres_reads_a_stream_and_the_announced_ones_in_one_round_trip(
    pg_url: str,
) -> None:
    pool = PgPool(pg_url, size=2)
    make = pg_uow_factory(pool)
    tenant = str(uuid.uuid4())
    task, project = f"task-{uuid.uuid4()}", f"project-{uuid.uuid4()}"
    try:
        async with make() as uow:
            await uow.events.append(task, 0, [NewEvent("A", {})], context=ctx(tenant))
            await uow.events.append(project, 0, [NewEvent("P", {})], context=ctx(tenant))
        async with make(tenant_id=tenant) as uow:
            await uow.ready()  # bind the tenant first: the round trips counted are the reads
            statements: list[str] = []

            def log(logged: Any) -> None:
                statements.append(logged.query)

            uow.connection.add_query_logger(log)
            uow.events.prefetch([project])
            assert [e.stream_id for e in await uow.events.load(task)] == [task]
            assert [e.stream_id for e in await uow.events.load(project)] == [project]
            await asyncio.sleep(0)
            uow.connection.remove_query_logger(log)
        assert len(statements) == 1, statements
    finally:
        await pool.close()


async def test_a_condition_on_a_stream_that_moved_fails_the_commit_and_writes_nothing(
    store: StoreFactory,
) -> None:
    tenant, project, task = str(uuid.uuid4()), f"project-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(project, 0, [NewEvent("P", {})], context=ctx(tenant))
    with pytest.raises(ConcurrencyError):
        async with store() as s:
            assert len(await s.load(project)) == 1
            s.expect(project, 1)  # the decision below rests on the project at version 1
            async with store() as other:  # another command moves the project meanwhile
                await other.append(project, 1, [NewEvent("Q", {})], context=ctx(tenant))
            await s.append(task, 0, [NewEvent("T", {})], context=ctx(tenant))
    async with store() as s:
        assert await s.load(task) == []
        assert [e.type for e in await s.load(project)] == ["P", "Q"]


async def test_a_condition_on_an_unchanged_stream_commits_and_moves_nothing(
    store: StoreFactory,
) -> None:
    tenant, project, task = str(uuid.uuid4()), f"project-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(project, 0, [NewEvent("P", {})], context=ctx(tenant))
    async with store() as s:
        s.expect(project, 1)
        s.expect(f"project-{uuid.uuid4()}", 0)  # a stream with no events is at version 0
        written = await s.append(task, 0, [NewEvent("T", {})], context=ctx(tenant))
    async with store() as s:
        loaded = await s.load(task)
        # The condition inserted no event: the project stays at version 1, and the next
        # position after it is the task's (gapless).
        project_events = await s.load(project)
        after = await s.read_after(project_events[-1].position, 10)
    assert [e.type for e in loaded] == ["T"] and written[0].version == 1
    assert [e.version for e in project_events] == [1]
    assert [(e.stream_id, e.position) for e in after][:1] == [
        (task, project_events[-1].position + 1)
    ]


async def test_postgres_conditions_of_one_batch_do_not_fail_each_other(pg_url: str) -> None:
    """Many commands whose conditions name one stream, written together by the group commit,
    all commit: a condition takes its stream from no later command of the batch."""
    pool = PgPool(pg_url, size=8)
    make = pg_uow_factory(pool)
    tenant, project = str(uuid.uuid4()), f"project-{uuid.uuid4()}"

    async def assign(n: int) -> int:
        async with make() as uow:
            uow.events.expect(project, 1)
            await uow.events.append(
                f"task-{uuid.uuid4()}", 0, [NewEvent("T", {"n": n})], context=ctx(tenant)
            )
        return uow.position

    try:
        async with make() as uow:
            await uow.events.append(project, 0, [NewEvent("P", {})], context=ctx(tenant))
        positions = await asyncio.gather(*(assign(n) for n in range(12)))
        assert len(set(positions)) == 12
        assert sum(pool.group_commit.batch_sizes.values()) < 12  # some batches held several
    finally:
        await pool.close()


async def test_postgres_checks_conditions_inside_a_transaction_too(pg_url: str) -> None:
    """A unit of work that opened a transaction (`begin`) writes with `collabspace_append`; its
    conditions are checked before COMMIT, under the head's lock."""
    pool = PgPool(pg_url, size=4)
    make = pg_uow_factory(pool)
    tenant, project = str(uuid.uuid4()), f"project-{uuid.uuid4()}"
    task, kept = f"task-{uuid.uuid4()}", f"task-{uuid.uuid4()}"
    try:
        async with make() as uow:
            await uow.events.append(project, 0, [NewEvent("P", {})], context=ctx(tenant))
        with pytest.raises(ConcurrencyError):
            async with make(tenant_id=tenant) as uow:
                await uow.begin(tenant)
                uow.events.expect(project, 1)
                async with make() as other:
                    await other.events.append(project, 1, [NewEvent("Q", {})], context=ctx(tenant))
                await uow.events.append(task, 0, [NewEvent("T", {})], context=ctx(tenant))
        async with make(tenant_id=tenant) as uow:
            await uow.begin(tenant)
            uow.events.expect(project, 2)
            await uow.events.append(kept, 0, [NewEvent("T", {})], context=ctx(tenant))
        async with make(tenant_id=tenant) as uow:
            assert await uow.events.load(task) == []
            assert [e.type for e in await uow.events.load(kept)] == ["T"]
    finally:
        await pool.close()


async def test_an_event_of_types_read_that_commits_meanwhile_fails_the_commit(
    store: StoreFactory,
) -> None:
    """`read_types` is a condition too: the removal that looked for assignments fails if an
    assignment commits after it looked, and writes nothing."""
    tenant, project = str(uuid.uuid4()), str(uuid.uuid4())
    stream, task = f"project-{project}", f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(task, 0, [NewEvent("Created", {})], context=ctx(tenant), project_id=project)
    with pytest.raises(ConcurrencyError):
        async with store() as s:
            assert await s.read_types(tenant, ["Assigned"], project_id=project) == []
            async with store() as other:
                await other.append(
                    task, 1, [NewEvent("Assigned", {})], context=ctx(tenant), project_id=project
                )
            await s.append(stream, 0, [NewEvent("Removed", {})], context=ctx(tenant))
    async with store() as s:
        assert await s.load(stream) == []


async def test_a_read_of_types_passes_when_only_other_types_or_its_own_events_came(
    store: StoreFactory,
) -> None:
    tenant, project = str(uuid.uuid4()), str(uuid.uuid4())
    stream, task = f"project-{project}", f"task-{uuid.uuid4()}"
    async with store() as s:
        await s.append(task, 0, [NewEvent("Assigned", {})], context=ctx(tenant), project_id=project)
    async with store() as s:
        assert len(await s.read_types(tenant, ["Assigned", "Removed"], project_id=project)) == 1
        async with store() as other:  # another type, and another project's event of the type
            await other.append(
                task, 1, [NewEvent("Moved", {})], context=ctx(tenant), project_id=project
            )
            await other.append(
                f"task-{uuid.uuid4()}", 0, [NewEvent("Assigned", {})], context=ctx(tenant)
            )
        # Its own event of a type it read does not fail it.
        await s.append(
            stream, 0, [NewEvent("Removed", {})], context=ctx(tenant), project_id=project
        )
        await s.append(f"task-{uuid.uuid4()}", 0, [NewEvent("X", {})], context=ctx(tenant))
    async with store() as s:
        assert [e.type for e in await s.load(stream)] == ["Removed"]
