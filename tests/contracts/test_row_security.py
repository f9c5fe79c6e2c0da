"""PostgreSQL row-level security, the second wall between tenants (docs/security.md).

As the app role (`collabspace_app`, what the API's requests connect as), a query without the
tenant setting sees nothing, and with tenant A's setting never sees or writes tenant B's rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from app.eventstore.postgres import asyncpg_dsn
from app.kernel.clock import utc_now
from app.kernel.tokens import TokenSigner
from tests.support import SECRET, api_client, app_url_for, settings_for, sign_up

TENANT_TABLES = (
    "event",
    "tenant_user",
    "idempotency_key",
    "tenant_user_card",
    "project_summary",
    "project_member",
    "project_task",
    "project_lookup",
    "task_card",
    "task_lookup",
    "task_comment",
    "activity_entry",
    "activity_lookup",
)


async def _world(pg_url: str) -> dict[str, Any]:
    """Two tenants with a project, a task and an idempotent command each, through the API."""
    tenants: dict[str, Any] = {}
    async with api_client(settings_for(pg_url)) as client:
        for label in ("A", "B"):
            owner = await sign_up(client, tenant=f"RLS {label}")
            project = await client.post(
                "/projects",
                json={"name": f"Project {label}"},
                headers={**owner["headers"], "Idempotency-Key": f"rls-{uuid.uuid4()}"},
            )
            assert project.status_code == 201, project.text
            project_id = project.json()["id"]
            task = await client.post(
                f"/projects/{project_id}/tasks", json={"title": "t"}, headers=owner["headers"]
            )
            assert task.status_code == 201, task.text
            comment = await client.post(
                f"/tasks/{task.json()['id']}/comments",
                json={"body": f"comment {label}"},
                headers=owner["headers"],
            )
            assert comment.status_code == 201, comment.text
            me = await client.get("/me", headers=owner["headers"])
            tenants[label] = {
                "tenant_id": me.json()["tenant_id"],
                "owner": owner,
                "project_id": project_id,
            }
            board = await client.get(
                f"/projects/{project_id}/board",
                params={"min_position": comment.json()["position"]},
                headers=owner["headers"],
            )
            assert board.status_code == 200, board.text
        # The request paths really ran as the app role.
        owner_conn = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            seen = await owner_conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE usename = 'collabspace_app' AND datname = current_database()"
            )
        finally:
            await owner_conn.close()
        assert seen > 0
    return tenants


async def test_the_app_role_sees_nothing_without_a_tenant_and_only_its_tenant_with_one(
    pg_url: str,
) -> None:
    world = await _world(pg_url)
    a, b = world["A"]["tenant_id"], world["B"]["tenant_id"]
    app = await asyncpg.connect(asyncpg_dsn(app_url_for(pg_url)))
    try:
        role = await app.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
        for table in TENANT_TABLES:
            # No setting at all, then an empty one: nothing.
            assert await app.fetchval(f"SELECT count(*) FROM {table}") == 0, table
            async with app.transaction():
                await app.execute("SELECT set_config('app.tenant_id', '', true)")
                assert await app.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        for mine, theirs in ((a, b), (b, a)):
            async with app.transaction():
                await app.execute("SELECT set_config('app.tenant_id', $1, true)", mine)
                for table in TENANT_TABLES:
                    tenants = {
                        str(r[0])
                        for r in await app.fetch(f"SELECT DISTINCT tenant_id FROM {table}")
                    }
                    assert theirs not in tenants, table
                    if table != "task_lookup":
                        assert tenants == {mine}, table
                    # Even asking for the other tenant by name finds nothing.
                    assert (
                        await app.fetchval(
                            f"SELECT count(*) FROM {table} WHERE tenant_id::text = $1", theirs
                        )
                        == 0
                    ), table
            # Writing a row for another tenant is refused by the policy's WITH CHECK.
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with app.transaction():
                    await app.execute("SELECT set_config('app.tenant_id', $1, true)", mine)
                    await app.execute(
                        "INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash,"
                        " status, body, created_at) VALUES ($1::uuid, $1::uuid, 'x', 'h', 200,"
                        " '{}', now())",
                        theirs,
                    )
        # The one cross-tenant lookup the role may make: one user by exact e-mail.
        email = world["B"]["owner"]["email"]
        found = await app.fetch("SELECT tenant_id::text FROM collabspace_user_by_email($1)", email)
        assert [r[0] for r in found] == [b]
        # And it cannot touch the migrations' bookkeeping.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.fetchval("SELECT count(*) FROM alembic_version")
    finally:
        await app.close()


async def test_no_function_the_app_role_may_execute_sets_the_tenant(pg_url: str) -> None:
    """The door of issue 14: `collabspace_dashboard(p_tenant, ...)` set the tenant itself."""
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        executable = await owner.fetch(
            "SELECT p.oid::regprocedure::text AS name, p.prosrc FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public'"
            " AND has_function_privilege('collabspace_app', p.oid, 'EXECUTE')"
        )
    finally:
        await owner.close()
    names = {row["name"].split("(")[0] for row in executable}
    assert names == {"collabspace_user_by_email", "collabspace_append"}, names
    for row in executable:
        assert "set_config" not in row["prosrc"].lower(), row["name"]


async def test_the_app_role_writes_events_only_through_the_append_function(pg_url: str) -> None:
    world = await _world(pg_url)
    a, b = world["A"]["tenant_id"], world["B"]["tenant_id"]
    app = await asyncpg.connect(asyncpg_dsn(app_url_for(pg_url)))
    try:
        for table, privilege in (
            ("event", "INSERT"),
            ("event", "UPDATE"),
            ("event", "DELETE"),
            ("event_head", "UPDATE"),
            ("event_head", "SELECT"),
            ("relay_checkpoint", "UPDATE"),
            ("relay_checkpoint", "SELECT"),
            ("projection_checkpoint", "INSERT"),
            ("projection_checkpoint", "UPDATE"),
        ):
            assert not await app.fetchval(
                "SELECT has_table_privilege(current_user, $1, $2)", table, privilege
            ), (table, privilege)
        assert await app.fetchval(
            "SELECT has_table_privilege(current_user, 'projection_checkpoint', 'SELECT')"
        )
        head_before = await _head(pg_url)
        args = (["s-1"], [1], [None], ["Probe"], [1], ["{}"], ["{}"])
        call = (
            "SELECT collabspace_append($1::uuid, $2, $3, $4, $5, $6, $7, $8,"
            " ARRAY[now()]::timestamptz[])"
        )
        # Another tenant's events, or any without a tenant set: refused, and no position used.
        for setting in (a, ""):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with app.transaction():
                    await app.execute("SELECT set_config('app.tenant_id', $1, true)", setting)
                    await app.fetchval(call, b, *args)
        assert await _head(pg_url) == head_before
    finally:
        await app.close()


async def _head(pg_url: str) -> int:
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        return int(await owner.fetchval("SELECT position FROM event_head WHERE id = 1"))
    finally:
        await owner.close()


async def test_backfill_through_the_app_role_serves_the_tenant_asked_and_no_other(
    pg_url: str,
) -> None:
    """GET /internal/backfill reads as the app role, scoped to the tenant it is asked for.

    Issue 14: it read through the app role without a tenant, so row-level security hid every
    row and it answered `{"events": [], "complete": true}`: resume replayed nothing.
    """
    world = await _world(pg_url)
    signer = TokenSigner(SECRET)
    token = signer.issue({"sub": "gateway"}, kind="service", now=utc_now(), ttl_s=60)
    headers = {"Authorization": f"Bearer {token}"}
    async with api_client(settings_for(pg_url)) as client:
        for mine, theirs in (("A", "B"), ("B", "A")):
            tenant = world[mine]["tenant_id"]
            mine_project = world[mine]["project_id"]
            scoped = await client.get(
                "/internal/backfill",
                params={"tenant": tenant, "scope": f"project:{mine_project}", "after": 0},
                headers=headers,
            )
            assert scoped.status_code == 200, scoped.text
            events = scoped.json()["events"]
            types = [e["type"] for e in events]
            assert types[:1] == ["ProjectCreated"] and "TaskCreated" in types, types
            assert {e["tenant"] for e in events} == {tenant}
            # The `prev` chain closes from the channel's first event on.
            assert events[0]["prev"] is None
            assert all(e["prev"] == p["position"] for p, e in zip(events, events[1:], strict=False))
            for scope in ("tenant", "access"):
                page = await client.get(
                    "/internal/backfill",
                    params={"tenant": tenant, "scope": scope, "after": 0},
                    headers=headers,
                )
                assert page.status_code == 200, page.text
                assert page.json()["events"], scope
                assert {e["tenant"] for e in page.json()["events"]} == {tenant}, scope
            # Another tenant's project, asked for under this tenant: nothing.
            crossed = await client.get(
                "/internal/backfill",
                params={
                    "tenant": tenant,
                    "scope": f"project:{world[theirs]['project_id']}",
                    "after": 0,
                },
                headers=headers,
            )
            assert crossed.status_code == 200
            assert crossed.json() == {"events": [], "complete": True}
