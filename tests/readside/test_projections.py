"""Projections against PostgreSQL: replay equality, crash safety, rebuilds under load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.activity import views as activity_views
from app.bootstrap import Services
from app.eventstore.reads import head_position
from app.kernel.db import snapshot
from app.projects import api as projects_api
from app.projects import views as project_views
from app.readside import rebuild as rebuild_module
from app.readside.runner import ProjectionRunner, catch_up
from app.tasks import commands as tc
from app.tasks import views as task_views
from tests.readside.script import Script, dump

TICK = 0.05  # every timeout below is a multiple of this


class SimulatedCrashError(Exception):
    pass


@asynccontextmanager
async def running(engine: AsyncEngine, **options: object) -> AsyncIterator[ProjectionRunner]:
    timings: dict[str, object] = {
        "poll_interval": TICK * 4,
        "standby_interval": TICK * 2,
        "retry_interval": TICK,
    }
    runner = ProjectionRunner(
        engine,
        readmodels.projectors(),
        **(timings | options),  # type: ignore[arg-type]
    )
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


@asynccontextmanager
async def leader_and_standby(
    engine: AsyncEngine, **standby_options: object
) -> AsyncIterator[tuple[ProjectionRunner, ProjectionRunner]]:
    """Two runners on one store: the first leads every projection, the second none."""
    async with running(engine) as first:
        await asyncio.sleep(TICK * 2)
        async with running(engine, **standby_options) as second:
            await asyncio.sleep(TICK * 4)
            assert first.leading == set(readmodels.NAMES)
            assert second.leading == set()
            yield first, second


async def rebuild_all(engine: AsyncEngine) -> None:
    for name in readmodels.NAMES:
        await readmodels.rebuild(engine, name, batch_size=7)


async def test_departures_roles_and_plans_rebuild_to_the_same_read_models(
    engine: AsyncEngine, services: Services, script: Script
) -> None:
    async with running(engine, signal=services.signal) as runner:
        world = await script.departures()
        assert await runner.wait_for(script.head, TICK * 100)
    live = await dump(engine)
    await rebuild_all(engine)
    assert await dump(engine) == live
    async with snapshot(engine) as connection:
        board = await task_views.task_board(
            connection, world["owner"], world["apollo"], projects=projects_api
        )
        dashboard = await project_views.project_dashboard(
            connection, world["owner"], world["apollo"]
        )
    assert [card["assignee"] for column in board["columns"].values() for card in column] == [
        None,
        None,
        None,
    ]
    assert [m["name"] for m in dashboard["members"]] == ["Hana"]
    texts = [entry["text"] for entry in dashboard["recent_activity"]]
    assert "Hana removed Cara from Apollo" in texts
    assert "Hana made Ivo a manager of Apollo" in texts


async def test_due_dates_priorities_and_comments_rebuild_to_the_same_read_models(
    engine: AsyncEngine, services: Services, script: Script
) -> None:
    async with running(engine, signal=services.signal) as runner:
        world = await script.task_fields()
        assert await runner.wait_for(script.head, TICK * 100)
    live = await dump(engine)
    assert any("first, edited" in row and "Gustav" in row for row in live["task_comment"])
    await rebuild_all(engine)
    assert await dump(engine) == live
    owner = world["owner"]
    async with snapshot(engine) as connection:
        board = await task_views.task_board(
            connection, owner, world["apollo"], projects=projects_api
        )
        dashboard = await project_views.project_dashboard(connection, owner, world["apollo"])
        mine = await task_views.my_tasks(connection, world["gus"], projects=projects_api)
        comments = await task_views.task_comments(
            connection, owner, world["late"], project_id=world["apollo"]
        )
    cards = {card["task_id"]: card for column in board["columns"].values() for card in column}
    late, soon = cards[world["late"]], cards[world["soon"]]
    assert (late["overdue"], late["comment_count"], late["priority"]) == (True, 1, "normal")
    assert (soon["overdue"], soon["priority"]) == (False, "high")
    assert soon["due_at"] == "2199-06-01T12:00:00+00:00"
    # The archived task was overdue too; only the open, not-done one counts.
    assert dashboard["task_overdue"] == 1
    assert [item["task_id"] for item in mine["items"]] == [world["soon"]]
    assert [(c["author"]["name"], c["body"]) for c in comments["items"]] == [
        ("Gustav", "first, edited")
    ]
    # The feed tells the comments and due dates (in the rebuilt model: the dump was equal), the
    # dashboard's kept entries say the same, and no comment's words are copied into either.
    async with snapshot(engine) as connection:
        feed = await activity_views.project_activity(connection, owner, world["apollo"])
        composed = await project_views._composed_dashboard(connection, owner, world["apollo"])
    texts = [item["text"] for item in reversed(feed["items"])]
    told = [text for text in texts if "comment" in text or "due date" in text]
    assert told == [
        'Fay set the due date of "Late" to 2026-01-02 08:00 UTC',
        'Fay set the due date of "Soon" to 2199-06-01 12:00 UTC',
        'Fay set the due date of "Gone" to 2026-01-02 08:00 UTC',
        'Gustav commented on "Late"',
        'Fay commented on "Late"',
        'Gustav commented on "Gone"',
        'Gustav edited a comment on "Late"',
        'Fay deleted a comment on "Late"',
        'Fay cleared the due date of "Soon"',
        'Fay set the due date of "Soon" to 2199-06-01 12:00 UTC',
    ], texts
    assert not [t for t in texts if "first" in t or "second" in t or "goes" in t]
    assert dashboard["recent_activity"] == composed["recent_activity"] == feed["items"][:20]


async def test_read_models_after_a_scripted_sequence_equal_a_replay_from_zero(
    engine: AsyncEngine, services: Services, script: Script
) -> None:
    async with running(engine, signal=services.signal) as runner:
        world = await script.story()
        assert await runner.wait_for(script.head, TICK * 100)
    live = await dump(engine)
    await rebuild_all(engine)
    assert await dump(engine) == live
    async with snapshot(engine) as connection:
        dashboard = await project_views.project_dashboard(
            connection, world["owner"], world["apollo"]
        )
    assert dashboard["name"] == "Apollo 11"
    assert (dashboard["task_total"], dashboard["task_done"]) == (5, 2)
    assert dashboard["completion_pct"] == 40
    assert dashboard["spend_cents"] == 25_000 and dashboard["budget_cents"] == 200_000
    assert [m["name"] for m in dashboard["members"]] == ["Olivia", "Ann Lee"]
    assert dashboard["as_of_position"] >= script.head


async def test_a_crash_between_the_rows_and_the_checkpoint_neither_loses_nor_double_applies(
    engine: AsyncEngine, script: Script
) -> None:
    await catch_up(engine, readmodels.projectors())
    crashes: list[tuple[str, int]] = []

    def crash_once_per_projection(name: str, position: int) -> None:
        if name not in {n for n, _ in crashes}:
            crashes.append((name, position))
            raise SimulatedCrashError(f"killed {name} before its checkpoint at {position}")

    # The runner retries after each crash: the batch's rows rolled back with it.
    async with running(engine, fault=crash_once_per_projection) as runner:
        world = await script.story()
        assert await runner.wait_for(script.head, TICK * 100)
    assert {n for n, _ in crashes} == set(readmodels.NAMES)

    # A runner killed for good mid-batch, then a new process restarting from the checkpoint.
    def always_crash(name: str, position: int) -> None:
        raise SimulatedCrashError("killed")

    async with running(engine, fault=always_crash) as dying:
        await script.task(world["ann"], world["apollo"], "written while the runner dies")
        await asyncio.sleep(TICK * 4)
        assert not await dying.wait_for(script.head, TICK)
    async with running(engine) as restarted:
        assert await restarted.wait_for(script.head, TICK * 100)
    live = await dump(engine)
    await rebuild_all(engine)
    assert await dump(engine) == live
    async with snapshot(engine) as connection:
        dashboard = await project_views.project_dashboard(
            connection, world["owner"], world["apollo"]
        )
    assert (dashboard["task_total"], dashboard["task_done"]) == (6, 2)


async def test_a_rebuild_while_commands_keep_arriving_ends_identical_to_the_live_model(
    engine: AsyncEngine, services: Services, script: Script
) -> None:
    world = await script.story()
    owner, apollo = world["owner"], world["apollo"]
    stop = asyncio.Event()

    async def keep_writing() -> int:
        count = 0
        while not stop.is_set():
            task_id = await script.task(owner, apollo, f"load {count}")
            await script.run(tc.MoveTask(owner, task_id, "done"), owner)
            count += 1
        return count

    async with running(engine, signal=services.signal) as runner:
        writer = asyncio.create_task(keep_writing())
        for name in readmodels.NAMES:
            await readmodels.rebuild(engine, name, batch_size=50)
        stop.set()
        written = await writer
        assert await runner.wait_for(await head_position(engine), TICK * 100)
    assert written > 0
    live = await dump(engine)
    await rebuild_all(engine)
    assert await dump(engine) == live


async def test_a_rebuild_in_two_processes_ends_identical_to_the_live_model(
    engine: AsyncEngine, services: Services, script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Partitioned by tenant, whatever the store's size here: several tenants, each with its
    # renames, members and tasks, so both partitions have work and names to keep apart.
    monkeypatch.setattr(rebuild_module, "PARTITION_THRESHOLD", 0)
    async with running(engine, signal=services.signal) as runner:
        await script.story()
        for n in range(5):
            owner = await script.tenant(f"Tenant {n}", f"Owner {n}")
            project = await script.project(owner, f"Project {n}")
            for t in range(3):
                task_id = await script.task(owner, project, f"Task {n}.{t}")
                await script.run(tc.MoveTask(owner, task_id, "in_progress"), owner)
        assert await runner.wait_for(script.head, TICK * 100)
    live = await dump(engine)
    for name in readmodels.NAMES:
        report = await readmodels.rebuild(engine, name, batch_size=7, partitions=2)
        assert report.partitions == 2
    assert await dump(engine) == live


async def test_a_standby_runner_takes_over_when_the_leader_stops(
    engine: AsyncEngine, script: Script
) -> None:
    owner = await script.tenant("Standby Inc", "Sam")
    async with leader_and_standby(engine) as (first, second):
        await script.project(owner, "While the first leads")
        assert await second.wait_for(script.head, TICK * 40)
        await first.stop()
        await script.project(owner, "After the takeover")
        assert await second.wait_for(script.head, TICK * 100)
        assert second.leading == set(readmodels.NAMES)


async def test_a_standby_runner_sleeps_through_commits(engine: AsyncEngine, script: Script) -> None:
    # A standby leads nothing, so a commit gives it nothing to do until its next try for the
    # locks. It used to wake and loop without waiting until then (a second API replica burned
    # a core, and its requests waited seconds). CPU time, not wall time: this process's own.
    owner = await script.tenant("Quiet Standby", "Sam")
    async with leader_and_standby(engine, standby_interval=30.0) as (_, second):
        await script.project(owner, "A commit both runners hear")
        assert await second.wait_for(script.head, TICK * 40)
        started = time.process_time()
        await asyncio.sleep(1.0)
        assert time.process_time() - started < 0.5


async def test_read_your_writes_waits_for_the_position_a_command_returned(
    engine: AsyncEngine, script: Script
) -> None:
    # No in-process signal: the runner hears of the commit through LISTEN/NOTIFY only.
    # Polling every 10 s: only NOTIFY can wake the runner within the wait below (no tight
    # timing: a loaded machine may take a while, but never 10 s).
    async with running(engine, poll_interval=10.0) as runner:
        owner = await script.tenant("Notify Ltd", "Nina")
        project_id = await script.project(owner, "Heard through NOTIFY")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await runner.wait_for(script.head, 5.0, names=project_views.LIST_READS)
        assert loop.time() - started < 5.0  # well under the polling interval
        async with snapshot(engine) as connection:
            listed = await project_views.list_projects(connection, owner)
        assert [p["project_id"] for p in listed["items"]] == [project_id]
        assert not await runner.wait_for(script.head + 1000, TICK)
