"""Every endpoint's happy path over HTTP: status, body, ETag, and what reached the event store."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.api_helpers import create_project, create_task, stream
from tests.support import api_client, invite, settings_for, sign_up


async def assert_mutation(
    response: httpx.Response, status: int, pg_url: str, stream_id: str, last_type: str
) -> dict[str, Any]:
    """The answer names the stream's new version and the position of its last event."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    events = await stream(pg_url, stream_id)
    assert events[-1].type == last_type
    assert (events[-1].version, events[-1].position) == (body["version"], body["position"])
    return body


async def test_signing_up_creates_a_tenant_and_its_owner_who_can_log_in(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client, tenant="Acme")
    assert owner["token_type"] == "Bearer" and owner["expires_in"] > 0
    tenant_events = await stream(pg_url, f"tenant-{owner['tenant_id']}")
    user_events = await stream(pg_url, f"user-{owner['user_id']}")
    assert [e.type for e in tenant_events] == ["TenantRegistered"]
    assert [e.type for e in user_events] == ["UserRegistered"]
    assert owner["position"] == user_events[0].position
    assert "password" not in str(user_events[0].data).lower()

    login = await client.post(
        "/auth/login", json={"email": owner["email"].upper(), "password": "correct horse"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["user_id"] == owner["user_id"]
    me = await client.get(
        "/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == {
        "id": owner["user_id"],
        "tenant_id": owner["tenant_id"],
        "email": owner["email"],
        "name": "Owner of Acme",
        "role": "owner",
        "active": True,
    }


async def test_a_wrong_password_or_unknown_email_is_refused_alike(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    wrong = await client.post(
        "/auth/login", json={"email": owner["email"], "password": "wrong horse"}
    )
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": "correct horse"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "bad_credentials"


async def test_signing_up_twice_with_one_email_is_refused(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    again = await client.post(
        "/auth/signup",
        json={
            "tenant_name": "Copycat",
            "name": "Copy",
            "email": owner["email"],
            "password": "correct horse",
        },
    )
    assert again.status_code == 422 and again.json()["code"] == "email_taken"


async def test_an_owner_invites_lists_renames_and_deactivates_users(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    created = await client.post(
        "/users",
        json={"email": "Mo@Example.com", "name": "Mo", "role": "admin", "password": "long enough"},
        headers=owner["headers"],
    )
    assert created.status_code == 201, created.text
    mo_id = created.json()["id"]
    body = await assert_mutation(created, 201, pg_url, f"user-{mo_id}", "UserRegistered")
    assert body["version"] == 1

    listed = await client.get("/users", headers=owner["headers"])
    assert sorted(u["name"] for u in listed.json()["items"]) == ["Mo", "Owner of Acme"]
    got = await client.get(f"/users/{mo_id}", headers=owner["headers"])
    assert got.json()["email"] == "mo@example.com" and got.json()["role"] == "admin"

    renamed = await client.patch(
        f"/users/{mo_id}",
        json={"name": "Maureen", "role": "member"},
        headers={**owner["headers"], "If-Match": '"1"'},
    )
    body = await assert_mutation(renamed, 200, pg_url, f"user-{mo_id}", "UserRoleChanged")
    assert body["version"] == 3
    got = await client.get(f"/users/{mo_id}", headers=owner["headers"])
    assert (got.json()["name"], got.json()["role"]) == ("Maureen", "member")

    removed = await client.delete(f"/users/{mo_id}", headers=owner["headers"])
    await assert_mutation(removed, 200, pg_url, f"user-{mo_id}", "UserDeactivated")
    login = await client.post(
        "/auth/login", json={"email": "mo@example.com", "password": "long enough"}
    )
    assert login.status_code == 401


async def test_a_member_cannot_invite_users(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    member = await invite(client, owner, "Mia")
    refused = await client.post(
        "/users",
        json={"email": "x@example.com", "name": "X", "password": "long enough"},
        headers=member["headers"],
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"


async def test_a_project_goes_through_its_whole_life_with_etags(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    h = owner["headers"]
    created = await client.post(
        "/projects",
        json={"name": "Apollo", "description": "Moon", "budget_cents": 1000},
        headers=h,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    s = f"project-{pid}"
    body = await assert_mutation(created, 201, pg_url, s, "ProjectMemberAdded")
    assert body["version"] == 2

    got = await client.get(f"/projects/{pid}", headers=h)
    assert got.status_code == 200 and got.headers["etag"] == '"2"'
    assert got.json() == {
        "id": pid,
        "tenant_id": owner["tenant_id"],
        "name": "Apollo",
        "description": "Moon",
        "status": "active",
        "budget_cents": 1000,
        "actual_spend_cents": 0,
        "members": [owner["user_id"]],
        "managers": [owner["user_id"]],
        "created_by": owner["user_id"],
        # The first event's time, with its timezone.
        "created_at": (await stream(pg_url, s))[0].recorded_at.isoformat(),
        "version": 2,
    }
    assert got.json()["created_at"].endswith("+00:00")

    steps: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("PATCH", f"/projects/{pid}", {"name": "Artemis"}, "ProjectRenamed"),
        ("PUT", f"/projects/{pid}/budget", {"budget_cents": 5000}, "ProjectBudgetChanged"),
        (
            "POST",
            f"/projects/{pid}/spend",
            {"amount_cents": 1200, "note": "fuel"},
            "ProjectSpendRecorded",
        ),
        ("POST", f"/projects/{pid}/members", {"user_id": mia["user_id"]}, "ProjectMemberAdded"),
        ("DELETE", f"/projects/{pid}/members/{mia['user_id']}", None, "ProjectMemberRemoved"),
        ("POST", f"/projects/{pid}/status", {"status": "on_hold"}, "ProjectStatusChanged"),
        ("POST", f"/projects/{pid}/status", {"status": "active"}, "ProjectStatusChanged"),
        ("POST", f"/projects/{pid}/status", {"status": "completed"}, "ProjectStatusChanged"),
        ("POST", f"/projects/{pid}/status", {"status": "archived"}, "ProjectStatusChanged"),
    ]
    version = 2
    for method, path, json, event_type in steps:
        response = await client.request(
            method, path, json=json, headers={**h, "If-Match": f'"{version}"'}
        )
        body = await assert_mutation(response, 200, pg_url, s, event_type)
        assert body["version"] == version + 1
        version = body["version"]

    got = await client.get(f"/projects/{pid}", headers=h)
    assert got.headers["etag"] == f'"{version}"'
    final = got.json()
    assert (final["name"], final["status"], final["budget_cents"]) == ("Artemis", "archived", 5000)
    assert final["actual_spend_cents"] == 1200 and final["members"] == [owner["user_id"]]


async def test_a_task_is_created_edited_assigned_moved_reopened_and_archived(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    h = owner["headers"]
    pid = await create_project(client, owner)
    await client.post(f"/projects/{pid}/members", json={"user_id": mia["user_id"]}, headers=h)
    created = await client.post(
        f"/projects/{pid}/tasks",
        json={"title": "Design", "description": "Sketch", "assignee_id": mia["user_id"].upper()},
        headers=h,
    )
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    s = f"task-{tid}"
    await assert_mutation(created, 201, pg_url, s, "TaskAssigned")
    assert all(e.project_id == pid for e in await stream(pg_url, s))

    steps: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("PATCH", f"/tasks/{tid}", {"title": "Design v2"}, "TaskEdited"),
        ("PUT", f"/tasks/{tid}/assignee", {"assignee_id": None}, "TaskUnassigned"),
        ("PUT", f"/tasks/{tid}/assignee", {"assignee_id": owner["user_id"]}, "TaskAssigned"),
        ("POST", f"/tasks/{tid}/move", {"status": "in_progress"}, "TaskMoved"),
        ("POST", f"/tasks/{tid}/move", {"status": "done"}, "TaskMoved"),
        ("POST", f"/tasks/{tid}/move", {"status": "todo"}, "TaskMoved"),
        ("POST", f"/tasks/{tid}/archive", None, "TaskArchived"),
    ]
    version = 2
    for method, path, json, event_type in steps:
        response = await client.request(
            method, path, json=json, headers={**h, "If-Match": f'W/"{version}"'}
        )
        body = await assert_mutation(response, 200, pg_url, s, event_type)
        version = body["version"]

    got = await client.get(f"/tasks/{tid}", headers=mia["headers"])
    assert got.status_code == 200 and got.headers["etag"] == f'"{version}"'
    assert got.json() == {
        "id": tid,
        "project_id": pid,
        "title": "Design v2",
        "description": "Sketch",
        "status": "todo",
        "assignee_id": owner["user_id"],
        "archived": True,
        "created_by": owner["user_id"],
        "created_at": (await stream(pg_url, f"task-{tid}"))[0].recorded_at.isoformat(),
        "due_at": None,
        "priority": "normal",
        "comment_count": 0,
        "version": 9,
    }
    refused = await client.post(f"/tasks/{tid}/move", json={"status": "done"}, headers=h)
    assert refused.status_code == 409 and refused.json()["code"] == "task_archived"


async def test_a_task_cannot_be_assigned_to_someone_outside_its_project(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    pid = await create_project(client, owner)
    tid = await create_task(client, owner, pid)
    refused = await client.put(
        f"/tasks/{tid}/assignee", json={"assignee_id": mia["user_id"]}, headers=owner["headers"]
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "assignee_not_member"
    assert refused.json()["field"] == "assignee_id"
    assert len(await stream(pg_url, f"task-{tid}")) == 1


async def test_a_project_past_the_tenant_limit_is_refused(pg_url: str) -> None:
    async with api_client(settings_for(pg_url, default_project_limit=1)) as client:
        owner = await sign_up(client)
        await create_project(client, owner)
        refused = await client.post("/projects", json={"name": "Two"}, headers=owner["headers"])
        assert refused.status_code == 403 and refused.json()["code"] == "project_limit_reached"
        tenant = await stream(pg_url, f"tenant-{owner['tenant_id']}")
        assert [e.type for e in tenant] == ["TenantRegistered", "TenantProjectAdded"]


async def test_health_and_readiness_answer(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
