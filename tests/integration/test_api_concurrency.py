"""Optimistic concurrency over HTTP: stale If-Match, and storms of conflicting writers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.kernel.domain import event_class
from app.projects.domain import TRANSITIONS, Project
from tests.integration.api_helpers import assert_problem, create_project, store_head, stream
from tests.support import sign_up

WRITERS = 24


async def replayed(pg_url: str, project_id: str) -> tuple[Project, list[Any]]:
    records = await stream(pg_url, f"project-{project_id}")
    events = [event_class(r.type).from_data(r.data) for r in records]
    return Project.replay(project_id, events), records


async def assert_state_is_the_replay(
    client: httpx.AsyncClient, pg_url: str, owner: dict[str, Any], project_id: str
) -> dict[str, Any]:
    got = await client.get(f"/projects/{project_id}", headers=owner["headers"])
    state: dict[str, Any] = got.json()
    project, records = await replayed(pg_url, project_id)
    assert [r.version for r in records] == list(range(1, len(records) + 1))
    assert got.headers["etag"] == f'"{len(records)}"'
    assert state["version"] == project.version == len(records)
    assert (state["status"], state["budget_cents"], state["actual_spend_cents"]) == (
        project.status,
        project.budget_cents,
        project.actual_spend_cents,
    )
    assert state["members"] == project.members
    return state


async def test_a_stale_if_match_is_refused_with_the_current_version_and_writes_nothing(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner)
    first = await client.patch(
        f"/projects/{pid}", json={"name": "B"}, headers={**owner["headers"], "If-Match": '"2"'}
    )
    assert first.status_code == 200 and first.headers["etag"] == '"3"'
    head = await store_head(pg_url)
    stale = await client.patch(
        f"/projects/{pid}", json={"name": "C"}, headers={**owner["headers"], "If-Match": '"2"'}
    )
    assert_problem(stale, 409, "version_conflict")
    assert stale.headers["etag"] == '"3"' and stale.json()["current_version"] == 3
    assert await store_head(pg_url) == head
    got = await client.get(f"/projects/{pid}", headers=owner["headers"])
    assert got.json()["name"] == "B"


async def test_an_if_match_that_is_not_an_etag_is_a_bad_request(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner)
    response = await client.patch(
        f"/projects/{pid}", json={"name": "B"}, headers={**owner["headers"], "If-Match": "two"}
    )
    assert_problem(response, 400, "bad_if_match")


async def test_concurrent_spends_never_exceed_the_budget_and_losers_are_retried_or_refused(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner, budget=1000)

    async def spend(i: int) -> httpx.Response:
        return await client.post(
            f"/projects/{pid}/spend",
            json={"amount_cents": 100, "note": f"writer {i}"},
            headers=owner["headers"],
        )

    responses = await asyncio.gather(*(spend(i) for i in range(WRITERS)))
    won = [r for r in responses if r.status_code == 200]
    for response in responses:
        if response.status_code == 200:
            continue
        assert_problem(response, 409)
        problem = response.json()
        assert problem["code"] in ("budget_rule", "concurrent_modification")
        if problem["code"] == "budget_rule":
            # Refused on the rule only when the spend truly no longer fitted.
            assert problem["actual_spend_cents"] + 100 > problem["budget_cents"]
    # All 24 read version 2 at once: every winner after the first won on a retry.
    assert 2 <= len(won) <= 10
    assert sorted(r.json()["version"] for r in won) == list(range(3, 3 + len(won)))
    state = await assert_state_is_the_replay(client, pg_url, owner, pid)
    assert state["actual_spend_cents"] == 100 * len(won) <= state["budget_cents"] == 1000


async def test_concurrent_writers_with_the_same_if_match_have_exactly_one_winner(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner, budget=10_000)

    async def spend() -> httpx.Response:
        return await client.post(
            f"/projects/{pid}/spend",
            json={"amount_cents": 100},
            headers={**owner["headers"], "If-Match": '"2"'},
        )

    responses = await asyncio.gather(*(spend() for _ in range(WRITERS)))
    assert [r.status_code for r in responses].count(200) == 1
    for response in responses:
        if response.status_code != 200:
            assert_problem(response, 409)
            assert response.json()["code"] in ("version_conflict", "concurrent_modification")
    state = await assert_state_is_the_replay(client, pg_url, owner, pid)
    assert state["actual_spend_cents"] == 100 and state["version"] == 3


async def test_concurrent_status_changes_only_ever_follow_the_transition_table(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner)
    targets = ["on_hold", "active", "completed", "cancelled", "archived"] * 5

    async def change(status: str) -> httpx.Response:
        return await client.post(
            f"/projects/{pid}/status", json={"status": status}, headers=owner["headers"]
        )

    responses = await asyncio.gather(*(change(s) for s in targets))
    for response in responses:
        if response.status_code != 200:
            assert_problem(response, 409)
            assert response.json()["code"] in (
                "invalid_status_transition",
                "concurrent_modification",
            )
    state = await assert_state_is_the_replay(client, pg_url, owner, pid)
    _, records = await replayed(pg_url, pid)
    status = "active"
    for record in records:
        if record.type == "ProjectStatusChanged":
            assert record.data["from_status"] == status
            assert record.data["to_status"] in TRANSITIONS[status]
            status = record.data["to_status"]
    assert state["status"] == status
    assert sum(r.status_code == 200 for r in responses) == len(records) - 2


async def test_concurrent_budget_cuts_and_spends_never_leave_spend_above_budget(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner, budget=2000)
    h = owner["headers"]
    requests = [
        client.put(f"/projects/{pid}/budget", json={"budget_cents": 2000 - 60 * i}, headers=h)
        if i % 2
        else client.post(f"/projects/{pid}/spend", json={"amount_cents": 150}, headers=h)
        for i in range(WRITERS)
    ]
    responses = await asyncio.gather(*requests)
    for response in responses:
        assert response.status_code in (200, 409), response.text
    await assert_state_is_the_replay(client, pg_url, owner, pid)
    # The rule holds after every event of the stream, not only at the end.
    budget, spent = 2000, 0
    for record in (await replayed(pg_url, pid))[1]:
        budget = record.data.get("budget_cents", budget)
        spent = record.data.get("actual_spend_cents", spent)
        assert 0 <= spent <= budget
