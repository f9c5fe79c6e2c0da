"""Helpers of the HTTP API tests: reading the event store directly, to check what was written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.eventstore.port import StoredEvent
from app.eventstore.reads import to_stored
from app.kernel.db import event
from tests.support import engine_for


@asynccontextmanager
async def connected(pg_url: str) -> AsyncIterator[AsyncConnection]:
    engine = engine_for(pg_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def store_head(pg_url: str) -> tuple[int, int]:
    """(number of events, highest position) of the whole store."""
    async with connected(pg_url) as connection:
        row = (
            await connection.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(event.c.position), 0))
            )
        ).one()
    return int(row[0]), int(row[1])


async def stream(pg_url: str, stream_id: str) -> list[StoredEvent]:
    async with connected(pg_url) as connection:
        rows = await connection.execute(
            event.select().where(event.c.stream_id == stream_id).order_by(event.c.version)
        )
        return [to_stored(row) for row in rows]


async def create_project(
    client: httpx.AsyncClient, owner: dict[str, Any], budget: int = 10_000, name: str = "Apollo"
) -> str:
    response = await client.post(
        "/projects", json={"name": name, "budget_cents": budget}, headers=owner["headers"]
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_task(client: httpx.AsyncClient, owner: dict[str, Any], project_id: str) -> str:
    response = await client.post(
        f"/projects/{project_id}/tasks", json={"title": "Design"}, headers=owner["headers"]
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status and isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
