"""The live runner: warm rows dropped when someone else writes; a failure stays local."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.eventstore.port import StoredEvent
from app.readside.rebuild import rebuild_projection
from app.readside.runner import ProjectionRunner, catch_up
from app.tasks import commands as tc
from app.tasks.events import TaskCreated
from app.tasks.projections import BoardProjector
from app.tasks.tables import task_card
from tests.readside.script import Script

TICK = 0.05


class ShoutingBoardProjector(BoardProjector):
    """A board whose rebuild differs from the live model, so a stale cache would show."""

    async def on_task_created(self, event: TaskCreated, record: StoredEvent) -> None:
        await super().on_task_created(event, record)
        row = await self.get(self.t.task_card, event.task_id)
        assert row is not None
        row["title"] = row["title"].upper()
        self.rows(self.t.task_card).changed(row)


async def title(engine: AsyncEngine, task_id: str) -> str:
    async with engine.connect() as connection:
        return str(
            await connection.scalar(
                sa.select(task_card.c.title).where(task_card.c.task_id == task_id)
            )
        )


async def test_a_rebuild_swap_makes_the_live_runner_forget_its_warm_rows(
    engine: AsyncEngine, script: Script
) -> None:
    owner = await script.tenant("Warm Co", "Wanda")
    project = await script.project(owner, "Warm")
    task_id = await script.task(owner, project, "quiet title")
    runner = ProjectionRunner(
        engine, readmodels.projectors(), poll_interval=TICK * 4, standby_interval=TICK * 2
    )
    await runner.start()
    try:
        # The board caches the card while applying its move.
        await script.run(tc.MoveTask(owner, task_id, "in_progress"), owner)
        assert await runner.wait_for(script.head, TICK * 100)
        board = next(p for p in runner.projectors if p.name == "board")
        assert board.warm is not None
        # A rebuild (another process, in real life) swaps in tables that differ from the cache.
        await rebuild_projection(engine, ShoutingBoardProjector())
        assert await title(engine, task_id) == "QUIET TITLE"
        await script.run(tc.MoveTask(owner, task_id, "done"), owner)
        assert await runner.wait_for(script.head, TICK * 100)
        # The live batch read the swapped-in row: a stale cache would have written the old title.
        assert await title(engine, task_id) == "QUIET TITLE"
        async with engine.connect() as connection:
            status = await connection.scalar(
                sa.select(task_card.c.status).where(task_card.c.task_id == task_id)
            )
        assert status == "done"
    finally:
        await runner.stop()
    # Leave the board as every other test expects it.
    await readmodels.rebuild(engine, "board")


class OverlongBoardProjector(BoardProjector):
    """A board whose rows PostgreSQL refuses (title longer than its column)."""

    async def on_task_created(self, event: TaskCreated, record: StoredEvent) -> None:
        await super().on_task_created(event, record)
        row = await self.get(self.t.task_card, event.task_id)
        assert row is not None
        row["title"] = "x" * 400
        self.rows(self.t.task_card).changed(row)


async def test_rows_one_projection_cannot_write_do_not_hold_the_others_back(
    engine: AsyncEngine, script: Script
) -> None:
    owner = await script.tenant("Stuck Ltd", "Stu")
    project = await script.project(owner, "Stuck")
    projectors = [
        OverlongBoardProjector() if p.name == "board" else p for p in readmodels.projectors()
    ]
    runner = ProjectionRunner(
        engine, projectors, poll_interval=TICK * 4, standby_interval=TICK * 2, retry_interval=TICK
    )
    await runner.start()
    try:
        await script.task(owner, project, "refused by the board")
        others = [n for n in readmodels.NAMES if n != "board"]
        assert await runner.wait_for(script.head, TICK * 100, names=others)
        assert not await runner.wait_for(script.head, TICK * 4, names=["board"])
    finally:
        await runner.stop()
    await catch_up(engine, readmodels.projectors())
