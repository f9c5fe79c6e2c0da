"""The inbox and the analytics series over HTTP, as the app role: who sees what, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.api_helpers import assert_problem, create_project, create_task
from tests.support import invite, sign_up


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_assignee_is_notified_reads_one_then_all_and_nobody_else_can(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client, tenant="Inbox")
    ann = await invite(client, owner, "Ann")
    project = await create_project(client, owner)
    await _ok(
        await client.post(
            f"/projects/{project}/members",
            json={"user_id": ann["user_id"]},
            headers=owner["headers"],
        )
    )
    task = await create_task(client, owner, project)
    assigned = await _ok(
        await client.put(
            f"/tasks/{task}/assignee",
            json={"assignee_id": ann["user_id"]},
            headers=owner["headers"],
        )
    )
    moved = await _ok(
        await client.post(f"/tasks/{task}/move", json={"status": "done"}, headers=owner["headers"])
    )
    wait = {"min_position": moved["position"]}
    count = await _ok(
        await client.get("/notifications/unread-count", params=wait, headers=ann["headers"])
    )
    assert count["unread"] == 3 and count["as_of_position"] >= moved["position"]
    page = await _ok(
        await client.get("/notifications", params={"limit": 2}, headers=ann["headers"])
    )
    assert [i["type"] for i in page["items"]] == ["TaskMoved", "TaskAssigned"]
    assert page["items"][1]["id"] == assigned["position"]
    assert page["next_before"] == assigned["position"]
    rest = await _ok(
        await client.get(
            "/notifications", params={"before": page["next_before"]}, headers=ann["headers"]
        )
    )
    assert [i["type"] for i in rest["items"]] == ["ProjectMemberAdded"]
    assert rest["next_before"] is None
    # The owner did all of it: nothing for them.
    mine = await _ok(await client.get("/notifications", headers=owner["headers"]))
    assert mine["items"] == [] and mine["unread"] == 0

    # Another user's notification is not found for the owner, and marking it changes nothing.
    newest = page["items"][0]["id"]
    assert_problem(
        await client.post(f"/notifications/{newest}/read", headers=owner["headers"]),
        404,
        "not_found",
    )
    for bad in ("abc", "-1", "9" * 40):
        assert_problem(await client.post(f"/notifications/{bad}/read", headers=ann["headers"]), 404)
    read = await _ok(await client.post(f"/notifications/{newest}/read", headers=ann["headers"]))
    count = await _ok(
        await client.get(
            "/notifications/unread-count",
            params={"min_position": read["position"]},
            headers=ann["headers"],
        )
    )
    assert count["unread"] == 2
    assert_problem(
        await client.post("/notifications/read-all", json={"up_to": 0}, headers=ann["headers"]),
        422,
    )
    # Far past the newest: held to the newest, so what comes later stays unread.
    everything = await _ok(
        await client.post("/notifications/read-all", json={"up_to": 2**60}, headers=ann["headers"])
    )
    count = await _ok(
        await client.get(
            "/notifications/unread-count",
            params={"min_position": everything["position"]},
            headers=ann["headers"],
        )
    )
    assert count["unread"] == 0
    unread = await _ok(
        await client.get("/notifications", params={"unread_only": "true"}, headers=ann["headers"])
    )
    assert unread["items"] == []
    moved_back = await _ok(
        await client.post(f"/tasks/{task}/move", json={"status": "todo"}, headers=owner["headers"])
    )
    later = await _ok(
        await client.get(
            "/notifications",
            params={"min_position": moved_back["position"]},
            headers=ann["headers"],
        )
    )
    assert later["unread"] == 1 and later["items"][0]["read"] is False
    read = await _ok(
        await client.post(f"/notifications/{later['items'][0]['id']}/read", headers=ann["headers"])
    )
    assert read["position"] > moved_back["position"]  # an event was recorded


async def test_a_projects_analytics_are_for_those_who_may_read_it_and_dates_are_checked(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client, tenant="Charts")
    stranger = await invite(client, owner, "Stan")
    project = await create_project(client, owner)
    task = await create_task(client, owner, project)
    await create_task(client, owner, project)
    done = await _ok(
        await client.post(f"/tasks/{task}/move", json={"status": "done"}, headers=owner["headers"])
    )
    today = datetime.now(UTC).date()
    url = f"/projects/{project}/analytics"
    series = await _ok(
        await client.get(
            url,
            params={
                "from": (today - timedelta(days=2)).isoformat(),
                "to": today.isoformat(),
                "min_position": done["position"],
            },
            headers=owner["headers"],
        )
    )
    assert series["timezone"] == "UTC" and len(series["days"]) == 3
    assert [d["open"] for d in series["days"]] == [0, 0, 1]
    assert series["days"][-1]["created"] == 2 and series["days"][-1]["completed"] == 1
    assert series["totals"]["completed"] == 1
    default = await _ok(await client.get(url, headers=owner["headers"]))
    assert len(default["days"]) == 30 and default["to"] == today.isoformat()
    # A member of the tenant who is not in the project: not found, as for its other reads.
    assert_problem(await client.get(url, headers=stranger["headers"]), 404)
    for params in (
        {"from": "yesterday"},
        {"to": "2026-02-30"},
        {"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"from": "0001-01-03", "to": "0001-01-05"},
        {"to": "0001-01-01"},
        {"from": "9999-12-31"},
    ):
        assert_problem(await client.get(url, params=params, headers=owner["headers"]), 422)
