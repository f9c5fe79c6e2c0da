"""The dashboard document the projects projection keeps says what the other read models say."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app import migrate, readmodels
from app.bootstrap import bootstrap
from app.kernel.db import make_engine, snapshot
from app.kernel.domain import Actor
from app.projects import views as project_views
from app.readside.runner import catch_up
from app.tasks import commands as tc
from app.tenants import commands as uc
from app.tenants.passwords import Argon2Hasher
from tests.readside.script import Script
from tests.support import fresh_database, settings_for


async def _document_and_composed(
    engine: AsyncEngine, actor: Actor, project_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    async with snapshot(engine) as connection:
        document = await project_views.project_dashboard(connection, actor, project_id)
        composed = await project_views._composed_dashboard(connection, actor, project_id)
    document.pop("as_of_position")
    composed.pop("as_of_position")
    return document, composed


async def test_the_document_equals_the_summary_with_the_activity_feed_after_renames(
    engine: AsyncEngine, script: Script
) -> None:
    world = await script.story()
    owner, ann = world["owner"], world["ann"]
    # More than a dashboard's worth of entries, then renames that reach the kept ones.
    extra = [await script.task(ann, world["apollo"], f"Extra {n}") for n in range(22)]
    await script.run(tc.EditTask(ann, extra[-1], title="Extra, renamed"), ann)
    await script.run(uc.UpdateUser(owner, ann.user_id, name="Ann Smith"), owner)
    await catch_up(engine, readmodels.projectors())
    for project in (world["apollo"], world["zeus"]):
        document, composed = await _document_and_composed(engine, owner, project)
        assert document == composed
    document, _ = await _document_and_composed(engine, owner, world["apollo"])
    texts = [e["text"] for e in document["recent_activity"]]
    assert len(texts) == 20
    assert texts[0] == 'Ann Smith edited the task "Extra, renamed"'
    assert 'Ann Smith created the task "Extra, renamed" in Apollo 11' in texts


async def test_after_migration_0005_a_dashboard_is_composed_until_its_document_is_written() -> None:
    async with fresh_database(prefix="cs_read_mig") as url:
        engine = make_engine(url)
        try:
            services = bootstrap(settings_for(url), engine, hasher=Argon2Hasher(fast=True))
            script = Script(services.bus)
            world = await script.story()
            await catch_up(engine, readmodels.projectors())
            owner, apollo = world["owner"], world["apollo"]
            before, _ = await _document_and_composed(engine, owner, apollo)
            # Back to before the document, and up again: the upgrade fills titles and entries
            # from the activity model; the document itself waits for the projection.
            await migrate.downgrade(engine, "0004_row_level_security")
            await migrate.upgrade(engine)
            async with engine.connect() as connection:
                missing = await connection.scalar(
                    sa.text("SELECT count(*) FROM project_summary WHERE dashboard IS NULL")
                )
            assert missing == 2
            composed, _ = await _document_and_composed(engine, owner, apollo)
            assert composed == before
            await script.task(owner, apollo, "After the upgrade")
            await catch_up(engine, readmodels.projectors())
            document, composed = await _document_and_composed(engine, owner, apollo)
            assert document == composed
            assert document["recent_activity"][1:] == before["recent_activity"][:19]
        finally:
            await engine.dispose()


async def test_a_rebuild_keeps_the_document_column_compression(engine: AsyncEngine) -> None:
    query = sa.text(
        "SELECT attcompression FROM pg_attribute"
        " WHERE attrelid = 'project_summary'::regclass AND attname = 'dashboard'"
    )
    async with engine.connect() as connection:
        before = await connection.scalar(query)
    await readmodels.rebuild(engine, "projects")
    async with engine.connect() as connection:
        assert await connection.scalar(query) == before
