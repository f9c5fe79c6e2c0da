"""Plans (issue 16, section 2): the tenant's plan and limits, changed by its owner with an
event, never below what is in use; and every timestamp the API answers carries a timezone."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import httpx

from tests.integration.api_helpers import assert_problem, create_project, create_task, stream
from tests.support import api_client, invite, settings_for, sign_up


async def test_a_new_tenant_is_on_the_default_plan_whose_limits_are_the_settings(
    pg_url: str,
) -> None:
    settings = settings_for(pg_url, default_project_limit=2, default_member_limit=3)
    async with api_client(settings) as client:
        owner = await sign_up(client)
        await create_project(client, owner)
        plan = await client.get("/tenant/plan", headers=owner["headers"])
        assert plan.status_code == 200, plan.text
        body = plan.json()
        assert (body["plan"], body["project_limit"], body["member_limit"]) == ("free", 2, 3)
        assert (body["projects_in_use"], body["members_in_use"]) == (1, 1)
        assert [p["name"] for p in body["plans"]] == ["free", "team", "business"]
        assert body["can_change"] is True
        await invite(client, owner, "Mia")
        await invite(client, owner, "Max")
        full = await client.post(
            "/users",
            json={"email": "one@too.many", "name": "One", "password": "correct horse"},
            headers=owner["headers"],
        )
        assert_problem(full, 403, "member_limit_reached")


async def test_invites_racing_for_the_last_seats_take_exactly_those_seats(pg_url: str) -> None:
    # Two seats left and eight invites at once: each invite counts the active users, so before
    # the seats were held they all counted one and all got in.
    async with api_client(settings_for(pg_url, default_member_limit=3)) as client:
        owner = await sign_up(client)

        async def invite_one(n: int) -> httpx.Response:
            body = {
                "email": f"racer{n}@x.example",
                "name": f"Racer {n}",
                "password": "correct horse",
            }
            return await client.post("/users", json=body, headers=owner["headers"])

        answers = await asyncio.gather(*(invite_one(n) for n in range(8)))
        assert sorted(a.status_code for a in answers) == [201, 201] + [403] * 6
        for refused in (a for a in answers if a.status_code == 403):
            assert_problem(refused, 403, "member_limit_reached")
        plan = (await client.get("/tenant/plan", headers=owner["headers"])).json()
        assert plan["members_in_use"] == 3


async def test_the_owner_changes_the_plan_with_an_event_and_its_limits_apply(
    pg_url: str,
) -> None:
    async with api_client(settings_for(pg_url, default_project_limit=1)) as client:
        owner = await sign_up(client)
        await create_project(client, owner)
        admin = await invite(client, owner, "Ada", role="admin")
        refused = await client.put("/tenant/plan", json={"plan": "team"}, headers=admin["headers"])
        assert_problem(refused, 403, "not_allowed")
        changed = await client.put("/tenant/plan", json={"plan": "team"}, headers=owner["headers"])
        assert changed.status_code == 200, changed.text
        events = await stream(pg_url, f"tenant-{owner['tenant_id']}")
        assert events[-1].type == "TenantPlanChanged"
        assert events[-1].data["from_plan"] == "free" and events[-1].data["plan"] == "team"
        assert changed.json()["position"] == events[-1].position
        second = await client.post("/projects", json={"name": "B"}, headers=owner["headers"])
        assert second.status_code == 201, second.text
        # Back to free, whose one project slot is below the two in use: refused, nothing written.
        down = await client.put("/tenant/plan", json={"plan": "free"}, headers=owner["headers"])
        assert_problem(down, 409, "plan_below_usage")
        assert down.json()["field"] == "plan" and "2 projects in use" in down.json()["detail"]
        assert (await stream(pg_url, f"tenant-{owner['tenant_id']}"))[-1].type == (
            "TenantProjectAdded"
        )
        unknown = await client.put("/tenant/plan", json={"plan": "gold"}, headers=owner["headers"])
        assert_problem(unknown, 422)


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def timestamps(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON document that looks like a date-time, with where it is."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in timestamps(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in timestamps(v, f"{path}[{i}]")]
    if isinstance(value, str) and RFC3339.match(value):
        return [(path, value)]
    return []


async def test_every_timestamp_the_api_answers_carries_a_timezone(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    task_id = await create_task(client, owner, project_id)
    moved = await client.post(
        f"/tasks/{task_id}/move", json={"status": "done"}, headers=owner["headers"]
    )
    position = moved.json()["position"]
    wait = f"?min_position={position}"
    paths = [
        "/me",
        "/users",
        "/tenant/plan",
        f"/projects{wait}",
        f"/projects/{project_id}",
        f"/projects/{project_id}/dashboard{wait}",
        f"/projects/{project_id}/board{wait}",
        f"/projects/{project_id}/history",
        f"/projects/{project_id}/state?as_of_version=1",
        f"/projects/{project_id}/activity{wait}",
        f"/activity{wait}",
        f"/tasks/{task_id}",
        f"/tasks/{task_id}/history",
        f"/tasks/{task_id}/state?as_of_version=1",
    ]
    seen = []
    for path in paths:
        response = await client.get(path, headers=owner["headers"])
        assert response.status_code == 200, (path, response.text)
        for where, value in timestamps(response.json()):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            assert parsed.tzinfo is not None, f"{path}{where} = {value} has no timezone"
            seen.append(where)
    # The walk met the timestamps it is about (it cannot pass by finding none).
    assert {".updated_at", ".created_at", ".recorded_at", ".occurred_at"} <= {
        "." + w.rsplit(".", 1)[-1] for w in seen
    }
