"""Migration 0010 on a store written before it: the board's new columns come out as a replay
from zero would write them (created_at from each task's first event)."""

from __future__ import annotations

from app import migrate, readmodels
from app.bootstrap import bootstrap
from app.kernel.db import make_engine
from app.readside.runner import catch_up
from app.tenants.passwords import Argon2Hasher
from tests.readside.script import Script, dump
from tests.support import fresh_database, settings_for


async def test_upgrading_a_store_of_tasks_gives_the_rows_a_rebuild_gives() -> None:
    async with fresh_database(prefix="cs_read_mig7") as url:
        engine = make_engine(url)
        try:
            services = bootstrap(settings_for(url), engine, hasher=Argon2Hasher(fast=True))
            script = Script(services.bus)
            await script.story()  # tasks, moves, renames: nothing of issue 16 s.7 yet
            await catch_up(engine, readmodels.projectors())
            await migrate.downgrade(engine, "0009_search_reports")
            await migrate.upgrade(engine)
            upgraded = await dump(engine)
            assert upgraded["task_card"], "the story leaves cards on the board"
            for name in readmodels.NAMES:
                await readmodels.rebuild(engine, name, batch_size=7)
            assert await dump(engine) == upgraded
        finally:
            await engine.dispose()
