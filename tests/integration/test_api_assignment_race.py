"""An assignment racing the assignee's removal from the project (docs/permissions.md, "Removing
a member"): whichever commits first, no task ends assigned to someone who is not a member.

The assignment reads the project (is the assignee a member?) but writes only the task; the
removal writes the project and unassigns the tasks it finds. Without the assignment's condition
on the project stream it read (`EventStore.expect`), both could read before either commits and
both commit: the removal finds no assignment yet, the assignment still sees a member.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.kernel.domain import event_class
from app.projects.domain import Project
from app.tasks.domain import Task
from tests.integration.api_helpers import create_project, create_task, stream
from tests.integration.test_api_domain_rules import add_member, assign
from tests.support import invite, sign_up

ROUNDS = 30


async def replayed(pg_url: str, cls: type[Any], aggregate_id: str) -> Any:
    records = await stream(pg_url, cls.stream_id_for(aggregate_id))
    return cls.replay(aggregate_id, (event_class(r.type).from_data(r.data) for r in records))


async def test_an_assignment_racing_the_assignees_removal_never_leaves_a_non_member_assigned(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    project_id = await create_project(client, owner)
    for _ in range(ROUNDS):
        assert (await add_member(client, owner, project_id, mia["user_id"])).status_code == 200
        task_id = await create_task(client, owner, project_id)
        assigned, removed = await asyncio.gather(
            assign(client, owner, task_id, mia["user_id"]),
            client.delete(
                f"/projects/{project_id}/members/{mia['user_id']}", headers=owner["headers"]
            ),
        )
        assert removed.status_code == 200, removed.text
        # The assignment either came first (and the removal unassigned it) or saw the removal.
        assert assigned.status_code in (200, 409), assigned.text
        if assigned.status_code == 409:
            assert assigned.json()["code"] == "assignee_not_member", assigned.text

        # The store's truth (not a read model): the task's assignee is a member, or nobody.
        task = await replayed(pg_url, Task, task_id)
        project = await replayed(pg_url, Project, project_id)
        assert mia["user_id"] not in project.members
        assert task.assignee_id is None, (task_id, task.assignee_id)
        got = await client.get(f"/tasks/{task_id}", headers=owner["headers"])
        assert got.status_code == 200 and got.json()["assignee_id"] is None, got.text
