"""Snapshots on the asyncpg unit of work: a load from a snapshot equals a full replay, also after
another process (another factory, with its own cache) appended to the stream, and never serves
another tenant."""

from __future__ import annotations

import uuid

from app.eventstore import repository
from app.eventstore.postgres import PgPool, pg_uow_factory
from app.eventstore.uow import CommandMeta
from app.tasks.domain import Task
from tests.support import app_url_for


async def test_snapshot_loads_equal_replay_across_processes_and_stay_in_their_tenant(
    pg_url: str,
) -> None:
    tenant, stranger = str(uuid.uuid4()), str(uuid.uuid4())
    task_id = str(uuid.uuid4())
    # One pooled session for everything: the stranger's unit of work below reuses the very
    # session the owner's were bound on, so it must re-bind it to its own tenant.
    pool = PgPool(app_url_for(pg_url), size=1)
    here, there = pg_uow_factory(pool), pg_uow_factory(pool)  # two caches, one database
    try:
        async with here(tenant) as uow:
            task = Task.create(
                task_id, project_id=str(uuid.uuid4()), title="T", description="", created_by="u"
            )
            await repository.save(uow, task, tenant_id=tenant)
        for n, (factory, status) in enumerate(
            [(here, "in_progress"), (there, "done"), (there, "todo"), (here, "in_progress")]
        ):
            async with factory(tenant) as uow:
                task = await repository.load(uow, Task, task_id)
                task.move(status)
                task.edit(title=f"T{n}", description=None)
                await repository.save(uow, task, tenant_id=tenant)
        for factory in (here, there):
            async with factory(tenant) as uow:
                cached = await repository.load(uow, Task, task_id)
                replayed = await repository.load(uow, Task, task_id, to_version=10_000)
            assert vars(cached) == vars(replayed)
            assert (cached.version, cached.status, cached.title) == (9, "in_progress", "T3")
        assert len(here(tenant).snapshots or ()) == 1
        # Another tenant asks for the same stream: row security answers nothing, and the cache
        # has no entry for that tenant.
        async with here(stranger) as uow:
            assert await uow.events.load(f"task-{task_id}") == []
        uow = here(stranger)
        uow.meta = CommandMeta(tenant_id=stranger)
        async with uow:
            assert not (await repository.load(uow, Task, task_id)).exists
    finally:
        await pool.close()
