"""Idempotency-Key: a retry replays the first answer and writes nothing."""

from __future__ import annotations

import asyncio

import httpx

from tests.integration.api_helpers import assert_problem, create_project, store_head, stream
from tests.support import invite, sign_up


async def test_a_replayed_key_answers_the_first_response_and_writes_nothing(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    headers = {**owner["headers"], "Idempotency-Key": "create-apollo"}
    first = await client.post("/projects", json={"name": "Apollo"}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    head = await store_head(pg_url)
    again = await client.post("/projects", json={"name": "Apollo"}, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await store_head(pg_url) == head
    tenant = await stream(pg_url, f"tenant-{owner['tenant_id']}")
    assert [e.type for e in tenant].count("TenantProjectAdded") == 1


async def test_a_replayed_spend_is_counted_once(client: httpx.AsyncClient, pg_url: str) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner, budget=1000)
    headers = {**owner["headers"], "Idempotency-Key": "spend-1"}
    for _ in range(3):
        response = await client.post(
            f"/projects/{pid}/spend", json={"amount_cents": 300}, headers=headers
        )
        assert response.status_code == 200 and response.json()["version"] == 3
    got = await client.get(f"/projects/{pid}", headers=owner["headers"])
    assert got.json()["actual_spend_cents"] == 300


async def test_the_same_key_with_another_body_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    headers = {**owner["headers"], "Idempotency-Key": "k-1"}
    await client.post("/projects", json={"name": "Apollo"}, headers=headers)
    head = await store_head(pg_url)
    other = await client.post("/projects", json={"name": "Gemini"}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")
    assert other.json()["field"] == "Idempotency-Key"
    assert await store_head(pg_url) == head


async def test_the_same_key_on_another_endpoint_is_refused(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner)
    headers = {**owner["headers"], "Idempotency-Key": "k-2"}
    await client.post(f"/projects/{pid}/spend", json={"amount_cents": 1}, headers=headers)
    other = await client.post(f"/projects/{pid}/tasks", json={"amount_cents": 1}, headers=headers)
    assert other.status_code == 422


async def test_keys_belong_to_their_user(client: httpx.AsyncClient, pg_url: str) -> None:
    owner = await sign_up(client)
    admin = await invite(client, owner, "Ada", role="admin")
    first = await client.post(
        "/projects", json={"name": "A"}, headers={**owner["headers"], "Idempotency-Key": "same"}
    )
    second = await client.post(
        "/projects", json={"name": "A"}, headers={**admin["headers"], "Idempotency-Key": "same"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers


async def test_concurrent_requests_with_one_key_write_once(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    headers = {**owner["headers"], "Idempotency-Key": "storm"}
    head = await store_head(pg_url)
    responses = await asyncio.gather(
        *(client.post("/projects", json={"name": "Storm"}, headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" in r.headers for r in responses) == 19
    # One project: its two events and the tenant's slot, nothing more.
    assert await store_head(pg_url) == (head[0] + 3, head[1] + 3)


async def test_an_overlong_idempotency_key_is_a_bad_request(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    response = await client.post(
        "/projects",
        json={"name": "A"},
        headers={**owner["headers"], "Idempotency-Key": "k" * 201},
    )
    assert_problem(response, 400, "bad_idempotency_key")
