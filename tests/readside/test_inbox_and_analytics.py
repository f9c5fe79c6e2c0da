"""The notifications inbox and the analytics series: what they hold after a story, and that a
rebuild from zero reproduces them exactly, read marks included (they are inbox events)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.analytics import views as analytics_views
from app.bootstrap import Services
from app.kernel.db import snapshot
from app.notifications import commands as nc
from app.notifications import views as inbox_views
from app.projects import commands as pc
from app.tasks import commands as tc
from tests.readside.script import Script, dump
from tests.readside.test_projections import TICK, rebuild_all, running


async def test_the_inbox_and_the_analytics_series_survive_a_rebuild_from_zero(
    engine: AsyncEngine, services: Services, script: Script
) -> None:
    async with running(engine, signal=services.signal) as runner:
        world = await script.story()
        owner, ann = world["owner"], world["ann"]
        apollo, tasks = world["apollo"], world["tasks"]
        # Ann's own move of her task tells her nothing; the owner's edit of it does.
        await script.run(tc.MoveTask(ann, tasks[0], "in_progress"), ann)
        await script.run(tc.EditTask(owner, tasks[0], title="Task {0} {x}"), owner)
        await script.run(pc.ChangeProjectStatus(owner, apollo, "on_hold"), owner)
        assert await runner.wait_for(script.head, TICK * 100)
        async with snapshot(engine) as connection:
            before = await inbox_views.inbox(connection, ann, limit=100)
        texts = [item["text"] for item in before["items"]]
        assert texts == [
            "Olivia moved Apollo 11 from active to on_hold",
            'Olivia edited "Task 0" (now "Task {0} {x}")',
            'Olivia assigned you "Task 0" in Apollo',
            "Olivia added you to Apollo",
        ], texts
        assert before["unread"] == 4
        # Read one, then all up to the newest but one: the newest stays unread.
        newest, second = before["items"][0]["id"], before["items"][1]["id"]
        await script.run(nc.MarkNotificationRead(ann, newest), ann)
        await script.run(nc.MarkNotificationRead(ann, newest), ann)  # again: no new event
        await script.run(nc.MarkAllNotificationsRead(ann, second), ann)
        await script.task(owner, apollo, "one more")
        assert await runner.wait_for(script.head, TICK * 100)
    async with snapshot(engine) as connection:
        after = await inbox_views.inbox(connection, ann, limit=2)
        assert after["unread"] == 0
        assert [i["read"] for i in after["items"]] == [True, True]
        assert after["next_before"] == second
        today = datetime.now(UTC).date()
        series = await analytics_views.project_analytics(connection, owner, apollo, today, today)
    (day,) = series["days"]
    # Six tasks and one more; tasks 1 and 2 done (2 archived after), task 0 done then reopened.
    assert (day["created"], day["completed"], day["open"]) == (7, 3, 5), day
    assert day["spend_cents"] == 25_000 and day["throughput_7d"] == 3
    assert day["median_cycle_seconds"] is not None and day["median_cycle_seconds"] >= 0
    live = await dump(engine)
    await rebuild_all(engine)
    assert await dump(engine) == live
    assert {"notifications", "analytics"} <= set(readmodels.NAMES)
