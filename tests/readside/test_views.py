"""Read queries: access and tenant isolation, renames everywhere, paging, history."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.activity import views as activity_views
from app.bootstrap import Services
from app.kernel.db import snapshot
from app.kernel.domain import Actor, InvalidInputError, NotFoundError
from app.projects import api as projects_api
from app.projects import commands as pc
from app.projects import views as project_views
from app.readside.runner import catch_up
from app.tasks import views as task_views
from app.tenants import views as tenant_views
from tests.readside.script import Script


@pytest.fixture
async def world(engine: AsyncEngine, script: Script) -> dict[str, Any]:
    world = await script.story()
    await catch_up(engine, readmodels.projectors())
    return world


async def _all_reads(
    engine: AsyncEngine, services: Services, actor: Actor, project_id: str, task_id: str
) -> list[Any]:
    """Every per-project query; each either answers or raises NotFoundError."""
    outcomes: list[Any] = []
    calls = [
        lambda c: project_views.project_dashboard(c, actor, project_id),
        lambda c: task_views.task_board(c, actor, project_id, projects=projects_api),
        lambda c: activity_views.project_activity(c, actor, project_id),
    ]
    for call in calls:
        async with snapshot(engine) as connection:
            try:
                outcomes.append(await call(connection))
            except NotFoundError:
                outcomes.append("not found")
    for history in (
        lambda: project_views.project_history(services.uow_factory(), actor, project_id),
        lambda: project_views.project_state(services.uow_factory(), actor, project_id),
        lambda: task_views.task_history(
            services.uow_factory(), actor, task_id, projects=projects_api
        ),
        lambda: task_views.task_state(
            services.uow_factory(), actor, task_id, projects=projects_api
        ),
    ):
        try:
            outcomes.append(await history())
        except NotFoundError:
            outcomes.append("not found")
    return outcomes


async def test_another_tenant_sees_nothing_of_a_tenant_on_any_query(
    engine: AsyncEngine, services: Services, script: Script, world: dict[str, Any]
) -> None:
    stranger = await script.tenant("Other Co", "Mallory")
    await catch_up(engine, readmodels.projectors())
    outcomes = await _all_reads(engine, services, stranger, world["apollo"], world["tasks"][0])
    assert outcomes == ["not found"] * 7
    async with snapshot(engine) as connection:
        listed = await project_views.list_projects(connection, stranger)
        feed = await activity_views.tenant_activity(connection, stranger)
        users = await tenant_views.list_users(connection, stranger)
        mine = await project_views.projects_of_user(
            connection, stranger.tenant_id, world["ann"].user_id
        )
        theirs = await project_views.readable_project_ids(connection, stranger)
    assert listed["items"] == []
    assert {e["text"] for e in feed["items"]} == {"Mallory created the workspace"}
    assert [u["name"] for u in users["items"]] == ["Mallory"]
    assert mine == [] and theirs == []


async def test_members_read_their_projects_and_a_removed_member_gets_not_found(
    engine: AsyncEngine, services: Services, world: dict[str, Any]
) -> None:
    ann, bob, owner = world["ann"], world["bob"], world["owner"]
    member_view = await _all_reads(engine, services, ann, world["apollo"], world["tasks"][0])
    assert "not found" not in member_view
    # Bob was removed from Apollo; he is an admin, so demote him to see the member rule.
    bob_as_member = Actor(bob.tenant_id, bob.user_id, "member")
    removed_view = await _all_reads(
        engine, services, bob_as_member, world["apollo"], world["tasks"][0]
    )
    assert removed_view == ["not found"] * 7
    async with snapshot(engine) as connection:
        assert await project_views.projects_of_user(connection, ann.tenant_id, ann.user_id) == [
            world["apollo"]
        ]
        assert sorted(await project_views.readable_project_ids(connection, owner)) == sorted(
            [world["apollo"], world["zeus"]]
        )
        ann_list = await project_views.list_projects(connection, ann)
        ann_feed = await activity_views.tenant_activity(connection, ann, limit=100)
    assert [p["name"] for p in ann_list["items"]] == ["Apollo 11"]
    assert not any("Zeus" in e["text"] for e in ann_feed["items"])


async def test_a_user_rename_reaches_members_assignees_creators_and_activity(
    engine: AsyncEngine, world: dict[str, Any]
) -> None:
    owner = world["owner"]
    async with snapshot(engine) as connection:
        dashboard = await project_views.project_dashboard(connection, owner, world["apollo"])
        zeus = await project_views.project_dashboard(connection, owner, world["zeus"])
        board = await task_views.task_board(
            connection, owner, world["apollo"], projects=projects_api
        )
        feed = await activity_views.project_activity(connection, owner, world["apollo"], limit=100)
    texts = [e["text"] for e in feed["items"]]
    assert {"user_id": world["ann"].user_id, "name": "Ann Lee"} in dashboard["members"]
    assert zeus["created_by"]["name"] == "Robert"
    assignees = [c["assignee"] for c in board["columns"]["done"] if c["assignee"]]
    assert assignees == [{"user_id": world["ann"].user_id, "name": "Ann Lee"}]
    assert 'Ann Lee created the task "Task 0" in Apollo 11' in texts
    assert 'Olivia assigned "Task 0" to Ann Lee' in texts
    assert "Olivia removed Robert from Apollo 11" in texts
    assert "Olivia renamed the project Apollo to Apollo 11" in texts
    assert 'Ann Lee created the task "Task three, renamed" in Apollo 11' in texts
    assert not any(re.search(r"\bAnn\b(?! Lee)|\bBob\b", t) for t in texts)


async def test_the_project_list_filters_by_status_newest_first_with_a_cursor(
    engine: AsyncEngine, script: Script
) -> None:
    owner = await script.tenant("Listing", "Lena")
    ids = [await script.project(owner, f"P{i}") for i in range(5)]
    await script.run(pc.ChangeProjectStatus(owner, ids[1], "on_hold"), owner)
    await catch_up(engine, readmodels.projectors())
    async with snapshot(engine) as connection:
        first = await project_views.list_projects(connection, owner, limit=2)
        second = await project_views.list_projects(
            connection, owner, limit=2, cursor=first["next_cursor"]
        )
        third = await project_views.list_projects(
            connection, owner, limit=2, cursor=second["next_cursor"]
        )
        on_hold = await project_views.list_projects(connection, owner, status="on_hold")
        with pytest.raises(InvalidInputError):
            await project_views.list_projects(connection, owner, status="sleeping")
    names = [p["name"] for page in (first, second, third) for p in page["items"]]
    assert names == ["P4", "P3", "P2", "P1", "P0"]
    assert third["next_cursor"] is None
    assert [p["project_id"] for p in on_hold["items"]] == [ids[1]]
    assert first["as_of_position"] >= script.head


async def test_the_activity_feed_pages_newest_first(
    engine: AsyncEngine, world: dict[str, Any]
) -> None:
    owner = world["owner"]
    async with snapshot(engine) as connection:
        everything = await activity_views.project_activity(
            connection, owner, world["apollo"], limit=100
        )
        page = await activity_views.project_activity(connection, owner, world["apollo"], limit=5)
        rest = await activity_views.project_activity(
            connection, owner, world["apollo"], limit=100, before=page["next_before"]
        )
    positions = [e["position"] for e in everything["items"]]
    assert positions == sorted(positions, reverse=True)
    assert [e["position"] for e in page["items"] + rest["items"]] == positions


async def test_history_lists_events_and_replays_state_as_of_a_version_or_a_time(
    services: Services, world: dict[str, Any]
) -> None:
    owner, apollo = world["owner"], world["apollo"]
    history = await project_views.project_history(services.uow_factory(), owner, apollo)
    types = [e["type"] for e in history["events"]]
    assert types[:2] == ["ProjectCreated", "ProjectMemberAdded"]
    first = await project_views.project_state(
        services.uow_factory(), owner, apollo, as_of_version=1
    )
    assert first["state"]["name"] == "Apollo" and first["state"]["members"] == []
    renamed_at = next(e for e in history["events"] if e["type"] == "ProjectRenamed")
    before_rename = datetime.fromisoformat(renamed_at["recorded_at"]) - timedelta(microseconds=1)
    then = await project_views.project_state(
        services.uow_factory(), owner, apollo, as_of=before_rename
    )
    assert then["state"]["name"] == "Apollo" and then["state"]["budget_cents"] == 200_000
    now = await project_views.project_state(services.uow_factory(), owner, apollo)
    assert now["state"]["name"] == "Apollo 11" and now["version"] == history["version"]
    task = await task_views.task_state(
        services.uow_factory(), owner, world["tasks"][0], as_of_version=1, projects=projects_api
    )
    assert task["state"]["status"] == "todo"
    with pytest.raises(InvalidInputError):
        await project_views.project_state(services.uow_factory(), owner, apollo, as_of_version=0)
    # A version the stream has not reached is an error, not the current state (issue 16).
    with pytest.raises(InvalidInputError, match="past the current version"):
        await project_views.project_state(
            services.uow_factory(), owner, apollo, as_of_version=history["version"] + 1
        )
    with pytest.raises(InvalidInputError, match="past the current version"):
        await task_views.task_state(
            services.uow_factory(),
            owner,
            world["tasks"][0],
            as_of_version=99,
            projects=projects_api,
        )


async def test_search_follows_the_story_and_answers_the_same_after_a_rebuild(
    engine: AsyncEngine, world: dict[str, Any]
) -> None:
    from app.search import views as search_views

    async def titles(actor: Actor, text: str) -> list[tuple[str, str, str]]:
        async with engine.connect() as connection:
            # One statement on the driver's connection, outside a transaction, as the route
            # runs it: the statement scopes itself to the actor's tenant.
            raw = (await connection.get_raw_connection()).driver_connection
            found = await search_views.search(raw, actor, text, limit=50)
        return sorted((h["kind"], h["title"], h["project_name"]) for h in found["items"])

    owner, ann, bob = world["owner"], world["ann"], world["bob"]
    answers = {
        (who, text): await titles(actor, text)
        for who, actor in (("owner", owner), ("ann", ann), ("bob", bob))
        for text in ("task", "apollo", "zeus", "three renam", "task 2")
    }
    # Renamed project (its tasks carry the new name), edited title, archived task gone.
    assert answers[("owner", "apollo")] == [("project", "Apollo 11", "Apollo 11")]
    assert answers[("owner", "three renam")] == [("task", "Task three, renamed", "Apollo 11")]
    assert answers[("owner", "task 2")] == []
    assert ("task", "Task 0", "Apollo 11") in answers[("ann", "task")]
    # Bob was removed from Apollo: an admin still reads every project, as the list does.
    assert ("task", "Task 0", "Apollo 11") in answers[("bob", "task")]
    assert answers[("ann", "zeus")] == []
    await readmodels.rebuild(engine, "search", batch_size=3)
    for (who, text), before in answers.items():
        actor = {"owner": owner, "ann": ann, "bob": bob}[who]
        assert await titles(actor, text) == before, (who, text)
