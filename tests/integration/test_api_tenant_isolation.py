"""Tenant isolation: every endpoint, found in the OpenAPI document, tried on another tenant's ids.

New endpoints are covered automatically; one with a request body needs a valid sample below
(the test says so), so that the body is never what refuses the request.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.kernel.db import event
from tests.integration.api_helpers import assert_problem, connected, create_project, create_task
from tests.support import invite, sign_up

# A valid body per request schema; "{u}" is replaced by a user id of the tenant under attack.
SAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "UpdateProjectBody": {"name": "Pwned"},
    "StatusBody": {"status": "cancelled"},
    "BudgetBody": {"budget_cents": 1},
    "SpendBody": {"amount_cents": 1},
    "MemberBody": {"user_id": "{u}"},
    "MemberRoleBody": {"role": "member"},
    "ChangePlanBody": {"plan": "team"},
    "CreateTaskBody": {"title": "Spy"},
    "EditTaskBody": {"title": "Pwned"},
    "AssignBody": {"assignee_id": None},
    "MoveBody": {"status": "done"},
    "CommentBodyIn": {"body": "Spy"},
    "UpdateUserBody": {"name": "Pwned"},
    "InviteBody": {"email": "spy-{n}@example.com", "name": "Spy", "password": "long enough"},
    "CreateProjectBody": {"name": "Own project"},
    "ReadAllBody": {"up_to": 2**60},
}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]


def sample_body(operation: dict[str, Any], victim_user: str, n: int) -> Any:
    if "requestBody" not in operation:
        return None
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    assert name in SAMPLE_BODIES, f"add a valid sample body for {name} to SAMPLE_BODIES"
    filled = {
        k: v.replace("{u}", victim_user).replace("{n}", str(n)) if isinstance(v, str) else v
        for k, v in SAMPLE_BODIES[name].items()
    }
    return filled


async def tenant_events(pg_url: str, tenant_id: str) -> list[tuple[int, str]]:
    async with connected(pg_url) as connection:
        rows = await connection.execute(
            sa.select(event.c.position, event.c.stream_id)
            .where(event.c.tenant_id == tenant_id)
            .order_by(event.c.position)
        )
        return [(r.position, r.stream_id) for r in rows]


async def victim_tenant(client: httpx.AsyncClient) -> dict[str, Any]:
    owner = await sign_up(client, tenant="Victim")
    mia = await invite(client, owner, "Mia")
    pid = await create_project(client, owner)
    added = await client.post(
        f"/projects/{pid}/members", json={"user_id": mia["user_id"]}, headers=owner["headers"]
    )
    tid = await create_task(client, owner, pid)
    # Mia's notification of being added: its id is the position of that event.
    notification = str(added.json()["position"])
    comment = await client.post(
        f"/tasks/{tid}/comments", json={"body": "Private"}, headers=mia["headers"]
    )
    assert comment.status_code == 201, comment.text
    return {
        "owner": owner,
        "mia": mia,
        "project_id": pid,
        "task_id": tid,
        "notification_id": notification,
        "comment_id": comment.json()["id"],
        "position": comment.json()["position"],
    }


async def snapshot(client: httpx.AsyncClient, victim: dict[str, Any]) -> list[Any]:
    h = victim["owner"]["headers"]
    return [
        (await client.get(f"/projects/{victim['project_id']}", headers=h)).json(),
        (await client.get(f"/tasks/{victim['task_id']}", headers=h)).json(),
        (await client.get("/users", headers=h)).json(),
        (
            await client.get(
                f"/tasks/{victim['task_id']}/comments",
                params={"min_position": victim["position"]},
                headers=h,
            )
        ).json()["items"],
    ]


@pytest.mark.parametrize("attacker_role", ["owner", "member"])
async def test_another_tenants_user_finds_nothing_of_the_first_tenant_on_any_endpoint(
    client: httpx.AsyncClient, pg_url: str, attacker_role: str
) -> None:
    victim = await victim_tenant(client)
    other_owner = await sign_up(client, tenant="Attacker")
    attacker = other_owner if attacker_role == "owner" else await invite(client, other_owner, "Eve")
    ids = {
        "project_id": victim["project_id"],
        "task_id": victim["task_id"],
        "user_id": victim["mia"]["user_id"],
        "notification_id": victim["notification_id"],
        "comment_id": victim["comment_id"],
    }
    before_events = await tenant_events(pg_url, victim["owner"]["tenant_id"])
    before = await snapshot(client, victim)
    document = (await client.get("/openapi.json")).json()
    tried = 0
    for n, (method, path, operation) in enumerate(operations(document)):
        names = re.findall(r"{(\w+)}", path)
        url = path.format(**{name: ids[name] for name in names})
        body = sample_body(operation, victim["mia"]["user_id"], n)
        # Search for the victim's own words: the answer is the attacker's tenant's, empty.
        params = {"q": "apollo", "min_position": "0"} if path == "/search" else None
        response = await client.request(
            method, url, json=body, params=params, headers={**attacker["headers"], "If-Match": "*"}
        )
        where = f"{method} {path} as {attacker_role}"
        if names:
            assert response.status_code == 404, f"{where}: {response.text}"
            assert response.headers["content-type"] == "application/problem+json", where
        else:
            # Tenant-wide endpoints act on the caller's own tenant, or are refused by role.
            assert response.status_code in (200, 201, 403), f"{where}: {response.text}"
            # (Not the notification id: a small number, found in any position or time.)
            uuids = [v for k, v in ids.items() if k != "notification_id"]
            for victim_id in (*uuids, victim["owner"]["user_id"]):
                assert victim_id not in response.text, where
        tried += 1
    assert tried >= 17
    assert await tenant_events(pg_url, victim["owner"]["tenant_id"]) == before_events
    assert await snapshot(client, victim) == before


async def test_a_user_of_another_tenant_cannot_be_made_a_member_or_assignee(
    client: httpx.AsyncClient,
) -> None:
    victim = await victim_tenant(client)
    attacker = await sign_up(client, tenant="Attacker")
    pid = await create_project(client, attacker)
    added = await client.post(
        f"/projects/{pid}/members",
        json={"user_id": victim["mia"]["user_id"]},
        headers=attacker["headers"],
    )
    assert_problem(added, 404, "user_not_found")
    task = await client.post(
        f"/projects/{pid}/tasks",
        json={"title": "T", "assignee_id": victim["mia"]["user_id"]},
        headers=attacker["headers"],
    )
    assert task.status_code == 409 and task.json()["code"] == "assignee_not_member"


async def test_a_same_tenant_non_member_finds_neither_the_project_nor_its_tasks(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    victim = await victim_tenant(client)
    outsider = await invite(client, victim["owner"], "Olaf")
    ids = {
        "project_id": victim["project_id"],
        "task_id": victim["task_id"],
        "user_id": victim["mia"]["user_id"],
        "comment_id": victim["comment_id"],
    }
    before_events = await tenant_events(pg_url, victim["owner"]["tenant_id"])
    document = (await client.get("/openapi.json")).json()
    tried = 0
    for n, (method, path, operation) in enumerate(operations(document)):
        names = re.findall(r"{(\w+)}", path)
        if not {"project_id", "task_id"} & set(names):
            continue
        url = path.format(**{name: ids[name] for name in names})
        body = sample_body(operation, victim["mia"]["user_id"], n)
        response = await client.request(method, url, json=body, headers=outsider["headers"])
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        tried += 1
    assert tried >= 12
    assert await tenant_events(pg_url, victim["owner"]["tenant_id"]) == before_events


async def test_a_removed_member_loses_access_to_the_project_and_its_tasks(
    client: httpx.AsyncClient,
) -> None:
    victim = await victim_tenant(client)
    mia, owner = victim["mia"], victim["owner"]
    pid, tid = victim["project_id"], victim["task_id"]
    assert (await client.get(f"/tasks/{tid}", headers=mia["headers"])).status_code == 200
    removed = await client.delete(
        f"/projects/{pid}/members/{mia['user_id']}", headers=owner["headers"]
    )
    assert removed.status_code == 200
    assert (await client.get(f"/projects/{pid}", headers=mia["headers"])).status_code == 404
    assert (await client.get(f"/tasks/{tid}", headers=mia["headers"])).status_code == 404
