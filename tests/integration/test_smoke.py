from __future__ import annotations

import httpx

from tests.support import sign_up


async def test_a_new_tenant_can_create_a_project_and_a_task(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    created = await client.post(
        "/projects", json={"name": "Apollo", "budget_cents": 1000}, headers=owner["headers"]
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    task = await client.post(
        f"/projects/{project_id}/tasks", json={"title": "Design"}, headers=owner["headers"]
    )
    assert task.status_code == 201, task.text
    got = await client.get(f"/projects/{project_id}", headers=owner["headers"])
    assert got.status_code == 200 and got.headers["etag"] == '"2"'
