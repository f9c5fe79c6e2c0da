"""Task fields people expect (issue 16 s.7) through the real API on PostgreSQL as the app role:
created_at, due dates with the overdue flag, priority, "my tasks", and comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.relay.cursors import envelope_of
from realtime.envelope import event_channels
from tests.integration.api_helpers import (
    assert_problem,
    create_project,
    create_task,
    store_head,
    stream,
)
from tests.support import invite, sign_up


def _later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _add_member(
    client: httpx.AsyncClient, by: dict[str, Any], project_id: str, user_id: str
) -> None:
    response = await client.post(
        f"/projects/{project_id}/members", json={"user_id": user_id}, headers=by["headers"]
    )
    assert response.status_code == 200, response.text


async def _cards(
    client: httpx.AsyncClient, by: dict[str, Any], project_id: str, position: int
) -> dict[str, dict[str, Any]]:
    response = await client.get(
        f"/projects/{project_id}/board", params={"min_position": position}, headers=by["headers"]
    )
    assert response.status_code == 200, response.text
    assert response.json()["as_of_position"] >= position
    return {
        card["task_id"]: card for column in response.json()["columns"].values() for card in column
    }


async def _dashboard(
    client: httpx.AsyncClient, by: dict[str, Any], project_id: str, position: int
) -> dict[str, Any]:
    response = await client.get(
        f"/projects/{project_id}/dashboard",
        params={"min_position": position},
        headers=by["headers"],
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["as_of_position"] >= position
    return body


async def _patch(
    client: httpx.AsyncClient, by: dict[str, Any], task_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(f"/tasks/{task_id}", json=body, headers=by["headers"])


async def test_tasks_and_projects_carry_their_creation_time_with_a_timezone(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    task_id = await create_task(client, owner, project_id)
    _, head = await store_head(pg_url)
    first = (await stream(pg_url, f"task-{task_id}"))[0].recorded_at
    task = (await client.get(f"/tasks/{task_id}", headers=owner["headers"])).json()
    assert datetime.fromisoformat(task["created_at"]) == first
    assert task["created_at"].endswith("+00:00")
    card = (await _cards(client, owner, project_id, head))[task_id]
    assert datetime.fromisoformat(card["created_at"]) == first
    project = (await client.get(f"/projects/{project_id}", headers=owner["headers"])).json()
    created = (await stream(pg_url, f"project-{project_id}"))[0].recorded_at
    assert datetime.fromisoformat(project["created_at"]) == created
    assert (await _dashboard(client, owner, project_id, head))["created_at"].endswith("+00:00")


async def test_a_past_due_date_marks_the_card_overdue_until_done_and_the_dashboard_counts_it(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    created = await client.post(
        f"/projects/{project_id}/tasks",
        json={"title": "Late", "due_at": "2026-01-02T09:00:00+01:00", "priority": "urgent"},
        headers=owner["headers"],
    )
    assert created.status_code == 201, created.text
    late = created.json()["id"]
    types = [e.type for e in await stream(pg_url, f"task-{late}")]
    assert types == ["TaskCreated", "TaskDueDateChanged", "TaskPriorityChanged"]
    soon = await create_task(client, owner, project_id)
    edited = await _patch(client, owner, soon, {"due_at": _later(3), "priority": "low"})
    assert edited.status_code == 200, edited.text

    cards = await _cards(client, owner, project_id, edited.json()["position"])
    assert cards[late]["due_at"] == "2026-01-02T08:00:00+00:00"  # kept in UTC
    assert (cards[late]["overdue"], cards[late]["priority"]) == (True, "urgent")
    assert (cards[soon]["overdue"], cards[soon]["priority"]) == (False, "low")
    dashboard = await _dashboard(client, owner, project_id, edited.json()["position"])
    assert dashboard["task_overdue"] == 1

    done = await client.post(
        f"/tasks/{late}/move", json={"status": "done"}, headers=owner["headers"]
    )
    assert done.status_code == 200, done.text
    assert (await _cards(client, owner, project_id, done.json()["position"]))[late][
        "overdue"
    ] is False
    assert (await _dashboard(client, owner, project_id, done.json()["position"]))[
        "task_overdue"
    ] == 0

    # null clears the due date; leaving the field out leaves it.
    cleared = await _patch(client, owner, soon, {"due_at": None})
    assert cleared.status_code == 200, cleared.text
    kept = await _patch(client, owner, late, {"title": "Late, renamed"})
    cards = await _cards(client, owner, project_id, kept.json()["position"])
    assert cards[soon]["due_at"] is None and cards[soon]["priority"] == "low"
    assert cards[late]["due_at"] == "2026-01-02T08:00:00+00:00"
    got = (await client.get(f"/tasks/{late}", headers=owner["headers"])).json()
    assert (got["due_at"], got["priority"]) == ("2026-01-02T08:00:00+00:00", "urgent")


async def test_bad_due_dates_and_priorities_are_422_and_change_nothing(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    task_id = await create_task(client, owner, project_id)
    before = await store_head(pg_url)
    bad_bodies: list[dict[str, Any]] = [
        {"due_at": "2026-12-24T17:00:00"},  # no timezone
        {"due_at": "2026-12-24"},
        {"due_at": "tomorrow"},
        {"due_at": 1798149600},  # a number is not a time
        {"due_at": "1900-01-01T00:00:00Z"},  # out of range (the domain's rule)
        {"due_at": "2300-01-01T00:00:00Z"},
        # At the ends of the calendar: converting to UTC would overflow (was a 500).
        {"due_at": "9999-12-31T23:59:59-23:59"},
        {"due_at": "0001-01-01T00:00:00+23:59"},
        {"priority": "critical"},
        {"priority": 3},
    ]
    for body in bad_bodies:
        response = await _patch(client, owner, task_id, body)
        assert_problem(response, 422)
        assert response.json()["field"] == next(iter(body)), response.text
        created = await client.post(
            f"/projects/{project_id}/tasks", json={"title": "x", **body}, headers=owner["headers"]
        )
        assert_problem(created, 422)
    assert await store_head(pg_url) == before


async def test_a_closed_project_refuses_due_dates_priorities_and_comments(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    task_id = await create_task(client, owner, project_id)
    comment = await client.post(
        f"/tasks/{task_id}/comments", json={"body": "before"}, headers=owner["headers"]
    )
    assert comment.status_code == 201, comment.text
    closed = await client.post(
        f"/projects/{project_id}/status", json={"status": "completed"}, headers=owner["headers"]
    )
    assert closed.status_code == 200, closed.text
    before = await store_head(pg_url)
    assert_problem(
        await _patch(client, owner, task_id, {"due_at": _later(1)}), 409, "project_closed"
    )
    assert_problem(
        await _patch(client, owner, task_id, {"priority": "high"}), 409, "project_closed"
    )
    added = await client.post(
        f"/tasks/{task_id}/comments", json={"body": "after"}, headers=owner["headers"]
    )
    assert_problem(added, 409, "project_closed")
    comment_path = f"/tasks/{task_id}/comments/{comment.json()['id']}"
    edited = await client.patch(comment_path, json={"body": "x"}, headers=owner["headers"])
    assert_problem(edited, 409, "project_closed")
    assert_problem(
        await client.delete(comment_path, headers=owner["headers"]), 409, "project_closed"
    )
    assert await store_head(pg_url) == before
    # The comments stay readable.
    listed = await client.get(
        f"/tasks/{task_id}/comments",
        params={"min_position": comment.json()["position"]},
        headers=owner["headers"],
    )
    assert [c["body"] for c in listed.json()["items"]] == ["before"]


async def _my_tasks(
    client: httpx.AsyncClient, who: dict[str, Any], position: int, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/me/tasks", params={"min_position": position, **params}, headers=who["headers"]
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["as_of_position"] >= position
    return body


async def test_my_tasks_lists_my_assignments_across_projects_by_due_date_with_a_cursor(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    apollo = await create_project(client, owner, name="Apollo")
    zeus = await create_project(client, owner, name="Zeus")
    for project_id in (apollo, zeus):
        await _add_member(client, owner, project_id, mia["user_id"])

    async def task(project_id: str, title: str, assignee: str, due: str | None) -> str:
        body: dict[str, Any] = {"title": title, "assignee_id": assignee}
        if due is not None:
            body["due_at"] = due
        response = await client.post(
            f"/projects/{project_id}/tasks", json=body, headers=owner["headers"]
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    no_due = await task(apollo, "Someday", mia["user_id"], None)
    later = await task(zeus, "Later", mia["user_id"], _later(10))
    past = await task(apollo, "Past", mia["user_id"], _later(-2))
    soon = await task(zeus, "Soon", mia["user_id"], _later(1))
    await task(apollo, "Owner's", owner["user_id"], _later(0.5))  # not Mia's
    _, head = await store_head(pg_url)

    whole = await _my_tasks(client, mia, head)
    assert [i["task_id"] for i in whole["items"]] == [past, soon, later, no_due]
    assert whole["next_cursor"] is None
    assert [i["overdue"] for i in whole["items"]] == [True, False, False, False]
    assert {i["project_id"] for i in whole["items"]} == {apollo, zeus}
    paged, cursor = [], None
    while True:
        page = await _my_tasks(client, mia, head, limit=1, **({"cursor": cursor} if cursor else {}))
        paged += [i["task_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [past, soon, later, no_due]

    moved = await client.post(
        f"/tasks/{past}/move", json={"status": "done"}, headers=mia["headers"]
    )
    open_only = await _my_tasks(client, mia, moved.json()["position"], include_done="false")
    assert [i["task_id"] for i in open_only["items"]] == [soon, later, no_due]
    # Leaving a project takes its tasks off the list (they are unassigned).
    left = await client.delete(f"/projects/{zeus}/members/{mia['user_id']}", headers=mia["headers"])
    assert left.status_code == 200, left.text
    after = await _my_tasks(client, mia, left.json()["position"])
    assert [i["task_id"] for i in after["items"]] == [past, no_due]
    for bad in ({"cursor": "x.y"}, {"cursor": "12"}, {"limit": 0}, {"limit": 101}):
        assert_problem(await client.get("/me/tasks", params=bad, headers=mia["headers"]), 422)


async def test_comments_are_added_edited_and_deleted_by_their_author_and_counted_on_the_card(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    outsider = await invite(client, owner, "Otto")
    project_id = await create_project(client, owner)
    await _add_member(client, owner, project_id, mia["user_id"])
    task_id = await create_task(client, owner, project_id)
    base = f"/tasks/{task_id}/comments"

    first = await client.post(base, json={"body": "  Looks good  "}, headers=mia["headers"])
    assert first.status_code == 201, first.text
    second = await client.post(base, json={"body": "Thanks"}, headers=owner["headers"])
    assert second.status_code == 201, second.text
    mine, theirs = first.json()["id"], second.json()["id"]
    events = await stream(pg_url, f"task-{task_id}")
    assert [e.type for e in events[-2:]] == ["TaskCommentAdded", "TaskCommentAdded"]
    assert events[-2].data["body"] == "Looks good" and events[-2].project_id == project_id
    # Published by the channel rule on the tenant's and the project's channels, no user's.
    channels = event_channels("cs", envelope_of(events[-2]))
    assert [(c.kind, c.key) for c in channels] == [("tenant", None), ("project", project_id)]

    listed = await client.get(
        base, params={"min_position": second.json()["position"]}, headers=mia["headers"]
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(c["body"], c["author"]["user_id"], c["mine"]) for c in items] == [
        ("Looks good", mia["user_id"], True),
        ("Thanks", owner["user_id"], False),
    ]
    assert items[0]["created_at"].endswith("+00:00") and items[0]["edited_at"] is None
    card = (await _cards(client, owner, project_id, second.json()["position"]))[task_id]
    assert card["comment_count"] == 2

    before = await store_head(pg_url)
    # Not the author: 403, even for the tenant's owner; nothing written.
    refused = await client.patch(
        f"{base}/{mine}", json={"body": "mine now"}, headers=owner["headers"]
    )
    assert_problem(refused, 403, "comment_not_yours")
    assert_problem(await client.delete(f"{base}/{mine}", headers=owner["headers"]), 403)
    assert_problem(await client.post(base, json={"body": "   "}, headers=mia["headers"]), 422)
    assert_problem(await client.post(base, json={"body": "x" * 5001}, headers=mia["headers"]), 422)
    assert_problem(await client.post(base, json={"text": "hi"}, headers=mia["headers"]), 422)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(
        await client.patch(f"{base}/{unknown}", json={"body": "x"}, headers=mia["headers"]),
        404,
        "comment_not_found",
    )
    # Someone who may not read the project does not learn the task exists.
    assert_problem(await client.get(base, headers=outsider["headers"]), 404)
    assert_problem(await client.post(base, json={"body": "hi"}, headers=outsider["headers"]), 404)
    assert await store_head(pg_url) == before

    edited = await client.patch(
        f"{base}/{mine}", json={"body": "Looks great"}, headers=mia["headers"]
    )
    assert edited.status_code == 200, edited.text
    deleted = await client.delete(f"{base}/{theirs}", headers=owner["headers"])
    assert deleted.status_code == 200, deleted.text
    assert_problem(await client.delete(f"{base}/{theirs}", headers=owner["headers"]), 404)
    listed = await client.get(
        base, params={"min_position": deleted.json()["position"]}, headers=mia["headers"]
    )
    (only,) = listed.json()["items"]
    assert only["body"] == "Looks great" and only["edited_at"] is not None
    card = (await _cards(client, owner, project_id, deleted.json()["position"]))[task_id]
    assert card["comment_count"] == 1
    task = (await client.get(f"/tasks/{task_id}", headers=mia["headers"])).json()
    assert task["comment_count"] == 1
    # Paging.
    for n in range(3):
        more = await client.post(base, json={"body": f"n{n}"}, headers=mia["headers"])
        assert more.status_code == 201
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "min_position": more.json()["position"]}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(base, params=params, headers=mia["headers"])).json()
        seen += [c["body"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Looks great", "n0", "n1", "n2"]


async def test_an_archived_task_takes_no_comments(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    project_id = await create_project(client, owner)
    task_id = await create_task(client, owner, project_id)
    archived = await client.post(f"/tasks/{task_id}/archive", headers=owner["headers"])
    assert archived.status_code == 200, archived.text
    added = await client.post(
        f"/tasks/{task_id}/comments", json={"body": "hi"}, headers=owner["headers"]
    )
    assert_problem(added, 409, "task_archived")
