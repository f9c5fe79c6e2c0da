"""A user's inbox channel on the live stream with the real API (PostgreSQL, Redis, projections,
the inbox relay): a notification the broker lost is repaired from the inbox's backfill, as on a
project channel (docs/protocol.md 7.3 and 7.7), and the socket stays open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_helpers import Client, mint
from stack import Api, collect_until, lossy_gateway, owner_and_project

from tests.support import fresh_database, invite


@pytest.fixture(scope="module")
async def api(prefix: str) -> AsyncIterator[Api]:
    async with fresh_database("cs_inbox_repair") as url:
        server = Api(url, prefix)
        try:
            yield await server.ready()
        finally:
            await server.stop()


async def _assign(api: Api, owner: dict[str, Any], project: str, user: str) -> int:
    task = await api.http.post(
        f"/projects/{project}/tasks", json={"title": "t"}, headers=owner["headers"]
    )
    assert task.status_code == 201, task.text
    r = await api.http.put(
        f"/tasks/{task.json()['id']}/assignee", json={"assignee_id": user}, headers=owner["headers"]
    )
    assert r.status_code == 200, r.text
    return int(r.json()["position"])


async def test_lost_notifications_are_repaired_from_the_inbox(prefix: str, api: Api) -> None:
    owner, project = await owner_and_project(api)
    mia = await invite(api.http, owner, "Mia")
    r = await api.http.post(
        f"/projects/{project}/members", json={"user_id": mia["user_id"]}, headers=owner["headers"]
    )
    assert r.status_code == 200, r.text
    mine = f"notifications:{mia['user_id']}"
    lossy = await lossy_gateway(prefix, api, every=3)
    try:
        c = await Client.open(lossy.port, mint(owner["tenant_id"], mia["user_id"]))
        await c.subscribe(mine)
        # Every third is lost; the 13th is kept, so the last hole is seen and repaired too.
        sent = [await _assign(api, owner, project, mia["user_id"]) for _ in range(13)]
        got = await collect_until(c, mine, sent[-1])
        assert [e["position"] for e in got] == sent, "every notification, once, in order"
        assert [e["prev"] for e in got[1:]] == sent[:-1]
        assert await lossy.metric("collabspace_gateway_test_drops_total") >= 3
        assert await lossy.metric("collabspace_gateway_gap_repairs_total") >= 1
        assert [f for f in c.stash if f.get("type") == "resync"] == []
        assert (await c.request({"type": "ping", "id": "still-here"}))["type"] == "pong"
        await c.close()
    finally:
        lossy.kill()
