"""The course's rules that behaved wrongly (issue 16, section 1), through the real API on
PostgreSQL as the app role: membership, who may manage a project, deactivation, plan slots,
and what a closed project still accepts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.api_helpers import assert_problem, create_project, create_task, stream
from tests.support import api_client, invite, settings_for, sign_up


async def add_member(
    client: httpx.AsyncClient, by: dict[str, Any], project_id: str, user_id: str, role: str = ""
) -> httpx.Response:
    body = {"user_id": user_id} | ({"role": role} if role else {})
    return await client.post(f"/projects/{project_id}/members", json=body, headers=by["headers"])


async def assign(
    client: httpx.AsyncClient, by: dict[str, Any], task_id: str, user_id: str | None
) -> httpx.Response:
    return await client.put(
        f"/tasks/{task_id}/assignee", json={"assignee_id": user_id}, headers=by["headers"]
    )


async def board_assignees(
    client: httpx.AsyncClient, by: dict[str, Any], project_id: str, position: int
) -> dict[str, str | None]:
    response = await client.get(
        f"/projects/{project_id}/board?min_position={position}", headers=by["headers"]
    )
    assert response.status_code == 200, response.text
    return {
        card["task_id"]: (card["assignee"] or {}).get("user_id")
        for column in response.json()["columns"].values()
        for card in column
    }


async def test_removing_a_member_unassigns_their_tasks_in_the_same_command(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    project_id = await create_project(client, owner)
    assert (await add_member(client, owner, project_id, mia["user_id"])).status_code == 200
    kept, held = (
        await create_task(client, owner, project_id),
        await create_task(client, owner, project_id),
    )
    assert (await assign(client, owner, held, mia["user_id"])).status_code == 200
    assert (await assign(client, owner, kept, owner["user_id"])).status_code == 200

    removed = await client.delete(
        f"/projects/{project_id}/members/{mia['user_id']}", headers=owner["headers"]
    )
    assert removed.status_code == 200, removed.text
    task_events = await stream(pg_url, f"task-{held}")
    assert task_events[-1].type == "TaskUnassigned"
    assert task_events[-1].data["previous_assignee_id"] == mia["user_id"]
    project_events = await stream(pg_url, f"project-{project_id}")
    # One command: the same correlation, and the answer's position covers the unassignment.
    assert (
        task_events[-1].metadata["correlation_id"] == project_events[-1].metadata["correlation_id"]
    )
    assert removed.json()["position"] == task_events[-1].position
    assert (await stream(pg_url, f"task-{kept}"))[-1].type == "TaskAssigned"
    assignees = await board_assignees(client, owner, project_id, removed.json()["position"])
    assert assignees == {held: None, kept: owner["user_id"]}


async def test_only_managers_owners_and_admins_set_the_budget_or_record_spend(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    mia, max_ = await invite(client, owner, "Mia"), await invite(client, owner, "Max")
    admin = await invite(client, owner, "Ada", role="admin")
    project_id = await create_project(client, mia)  # Mia created it: she manages it
    assert (await add_member(client, mia, project_id, max_["user_id"])).status_code == 200
    base = f"/projects/{project_id}"
    for attempt in [
        client.put(f"{base}/budget", json={"budget_cents": 5}, headers=max_["headers"]),
        client.post(f"{base}/spend", json={"amount_cents": 5}, headers=max_["headers"]),
        client.patch(base, json={"name": "Mine now"}, headers=max_["headers"]),
        client.post(f"{base}/status", json={"status": "on_hold"}, headers=max_["headers"]),
        add_member(client, max_, project_id, admin["user_id"]),
    ]:
        assert_problem(await attempt, 403, "project_forbidden")
    for who in (mia, owner, admin):
        spent = await client.post(f"{base}/spend", json={"amount_cents": 5}, headers=who["headers"])
        assert spent.status_code == 200, spent.text
    made = await client.put(
        f"{base}/members/{max_['user_id']}", json={"role": "manager"}, headers=mia["headers"]
    )
    assert made.status_code == 200, made.text
    budget = await client.put(f"{base}/budget", json={"budget_cents": 900}, headers=max_["headers"])
    assert budget.status_code == 200, budget.text
    project = (await client.get(base, headers=owner["headers"])).json()
    assert project["managers"] == sorted([mia["user_id"], max_["user_id"]])


async def test_the_last_manager_cannot_leave_or_be_removed_or_stop_managing(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    mia, max_ = await invite(client, owner, "Mia"), await invite(client, owner, "Max")
    project_id = await create_project(client, mia)
    assert (await add_member(client, mia, project_id, max_["user_id"])).status_code == 200
    leave = f"/projects/{project_id}/members/{mia['user_id']}"
    assert_problem(await client.delete(leave, headers=mia["headers"]), 409, "last_project_manager")
    assert_problem(
        await client.delete(leave, headers=owner["headers"]), 409, "last_project_manager"
    )
    demote = await client.put(leave, json={"role": "member"}, headers=mia["headers"])
    assert_problem(demote, 409, "last_project_manager")
    # A plain member may leave; with a second manager, the first may leave too.
    gone = await client.delete(
        f"/projects/{project_id}/members/{max_['user_id']}", headers=max_["headers"]
    )
    assert gone.status_code == 200, gone.text
    assert (await add_member(client, mia, project_id, owner["user_id"], "manager")).is_success
    assert (await client.delete(leave, headers=mia["headers"])).status_code == 200
    project = (await client.get(f"/projects/{project_id}", headers=owner["headers"])).json()
    assert project["members"] == [owner["user_id"]] == project["managers"]


async def test_deactivating_a_user_ends_their_memberships_and_assignments(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia, max_ = await invite(client, owner, "Mia"), await invite(client, owner, "Max")
    hers = await create_project(client, mia, name="Hers")  # Mia is its only manager and member
    shared = await create_project(client, owner, name="Shared")
    assert (await add_member(client, owner, shared, mia["user_id"])).status_code == 200
    assert (await add_member(client, owner, shared, max_["user_id"])).status_code == 200
    task = await create_task(client, owner, shared)
    assert (await assign(client, owner, task, mia["user_id"])).status_code == 200

    gone = await client.delete(f"/users/{mia['user_id']}", headers=owner["headers"])
    assert gone.status_code == 200, gone.text
    assert (await stream(pg_url, f"task-{task}"))[-1].type == "TaskUnassigned"
    shared_state = (await client.get(f"/projects/{shared}", headers=owner["headers"])).json()
    assert mia["user_id"] not in shared_state["members"]
    # The project she alone managed passes to the owner who deactivated her: never unmanaged.
    hers_state = (await client.get(f"/projects/{hers}", headers=owner["headers"])).json()
    assert hers_state["members"] == [owner["user_id"]] == hers_state["managers"]
    assert [e.type for e in await stream(pg_url, f"project-{hers}")][-2:] == [
        "ProjectMemberAdded",
        "ProjectMemberRemoved",
    ]
    assert_problem(await assign(client, owner, task, mia["user_id"]), 409, "assignee_not_member")
    again = await add_member(client, owner, shared, mia["user_id"])
    assert_problem(again, 409, "user_deactivated")
    assert "deactivated" in again.json()["detail"]


async def test_archiving_a_project_frees_a_plan_slot(pg_url: str) -> None:
    async with api_client(settings_for(pg_url, default_project_limit=1)) as client:
        owner = await sign_up(client)
        first = await create_project(client, owner)
        refused = await client.post("/projects", json={"name": "B"}, headers=owner["headers"])
        assert_problem(refused, 403, "project_limit_reached")
        for status in ("completed", "archived"):
            moved = await client.post(
                f"/projects/{first}/status", json={"status": status}, headers=owner["headers"]
            )
            assert moved.status_code == 200, moved.text
        again = await client.post("/projects", json={"name": "B"}, headers=owner["headers"])
        assert again.status_code == 201, again.text
        events = await stream(pg_url, f"tenant-{owner['tenant_id']}")
        assert [e.type for e in events][-2:] == ["TenantProjectReleased", "TenantProjectAdded"]


async def test_a_completed_or_cancelled_project_takes_money_but_no_more_work(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    for closing in ("completed", "cancelled"):
        project_id = await create_project(client, owner)
        task = await create_task(client, owner, project_id)
        closed = await client.post(
            f"/projects/{project_id}/status", json={"status": closing}, headers=owner["headers"]
        )
        assert closed.status_code == 200, closed.text
        h, base = owner["headers"], f"/projects/{project_id}"
        for attempt in [
            client.post(f"{base}/tasks", json={"title": "Late"}, headers=h),
            client.post(f"/tasks/{task}/move", json={"status": "done"}, headers=h),
            client.patch(f"/tasks/{task}", json={"title": "Renamed"}, headers=h),
            assign(client, owner, task, owner["user_id"]),
        ]:
            response = await attempt
            assert_problem(response, 409, "project_closed")
            assert closing in response.json()["detail"]
        assert_problem(await add_member(client, owner, project_id, mia["user_id"]), 409)
        spend = await client.post(f"{base}/spend", json={"amount_cents": 7}, headers=h)
        assert spend.status_code == 200, spend.text
        budget = await client.put(f"{base}/budget", json={"budget_cents": 20_000}, headers=h)
        assert budget.status_code == 200, budget.text
