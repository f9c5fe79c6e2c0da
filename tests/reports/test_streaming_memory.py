"""100,000 rows stream out of the tasks report while the server's memory stays flat.

The rows go straight into the board's table (the report reads that read model; making 100k
tasks through the command path would take minutes and prove nothing more here). The request
runs through the real app (authentication, app role, row-level security, server-side cursor)
with an ASGI `send` that counts the bytes and lines and keeps none of them, so what tracemalloc
sees growing is the server's. The same request for 10,000 rows is the yardstick: with a
cursor the peak does not depend on the row count; with a buffered result it would grow about
ten times (100k rows of ~150 bytes is ~15 MB of CSV, more as Python objects).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from app.eventstore.postgres import asyncpg_dsn
from app.main import create_app
from app.tenants.passwords import Argon2Hasher
from tests.search.helpers import World
from tests.support import settings_for, sign_up

SMALL, LARGE = 10_000, 100_000


async def _fill(pg_url: str, tenant_id: str, project_id: str, rows: int) -> None:
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await owner.execute(
            """
            INSERT INTO task_card (task_id, tenant_id, project_id, title, description, status,
                                   assignee_id, assignee_name, created_position, updated_at,
                                   version, created_at, priority, comment_count)
            SELECT gen_random_uuid()::text, $1, $2, 'Task "' || n || '", with a comma',
                   'line one' || chr(10) || 'line two of task ' || n, 'todo', NULL, NULL,
                   1000000 + n, now(), 1, now(), 'normal', 0
              FROM generate_series(1, $3) AS n
            """,
            tenant_id,
            project_id,
            rows,
        )
    finally:
        await owner.close()


async def _stream(app: Any, path: str, token: str) -> tuple[int, int, int, float]:
    """(status, bytes, CSV records, seconds) of one GET; the body is counted and dropped."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"api"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("api", 80),
    }
    counted = {"status": 0, "bytes": 0, "records": 0}

    requested = asyncio.Event()

    async def receive() -> dict[str, Any]:
        # The request's (empty) body once; then the client stays connected until the end.
        if not requested.is_set():
            requested.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            counted["status"] = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            counted["bytes"] += len(body)
            # Every record ends in CRLF; the line breaks inside fields are bare LF.
            counted["records"] += body.count(b"\r\n")

    started = time.perf_counter()
    await app(scope, receive, send)
    return counted["status"], counted["bytes"], counted["records"], time.perf_counter() - started


async def _peak_growth(app: Any, path: str, token: str) -> tuple[int, int, int]:
    """(status, records, tracemalloc peak above the allocations live when it started)."""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        status, _, records, _ = await _stream(app, path, token)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return status, records, peak - baseline


async def test_a_hundred_thousand_rows_stream_in_constant_memory(pg_url: str) -> None:
    app = create_app(settings_for(pg_url), hasher=Argon2Hasher(fast=True))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            w = World(client)
            owner = await sign_up(client, tenant=f"Big {uuid.uuid4().hex[:6]}")
            small = await w.project(owner, "Small")
            large = await w.project(owner, "Large")
            await w.get(f"/projects/{large}/board", owner)  # the projections have seen both
        await _fill(pg_url, owner["tenant_id"], small, SMALL)
        await _fill(pg_url, owner["tenant_id"], large, LARGE)
        served = manager.app  # the lifespan's state is added to each request's scope
        token = owner["access_token"]
        # A warm-up request: first-use allocations (prepared statements, codecs) are not growth.
        await _stream(served, f"/projects/{small}/reports/tasks.csv", token)
        status, records, small_peak = await _peak_growth(
            served, f"/projects/{small}/reports/tasks.csv", token
        )
        assert (status, records) == (200, SMALL + 1)
        started = time.perf_counter()
        status, records, large_peak = await _peak_growth(
            served, f"/projects/{large}/reports/tasks.csv", token
        )
        seconds = time.perf_counter() - started
        assert (status, records) == (200, LARGE + 1)
    print(
        f"peak growth: {SMALL} rows {small_peak / 1e6:.2f} MB, {LARGE} rows "
        f"{large_peak / 1e6:.2f} MB ({seconds:.1f} s under tracemalloc)"
    )
    # Ten times the rows, about the same peak: at most 1 MB more (the whole CSV is ~13 MB).
    assert large_peak < small_peak + 1_000_000, (small_peak, large_peak)
    assert large_peak < 4_000_000, large_peak
