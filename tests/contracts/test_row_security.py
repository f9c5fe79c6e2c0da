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
    "notification",
    "notification_task",
    "notification_project",
    "notification_lookup",
    "analytics_day",
    "analytics_task",
    "analytics_project",
    "search_entry",
    "search_member",
    "search_lookup",
)
# Tables the app role only reads: projections write them as the owner, and a request changes
# them only through a command's events (marking a notification read is one).
READ_ONLY_TABLES = (
    "notification",
    "notification_task",
    "notification_project",
    "notification_lookup",
    "analytics_day",
    "analytics_task",
    "analytics_project",
)
# Tables the world of _world leaves empty in a tenant (nobody else acted on the owner's work).
MAY_BE_EMPTY = ("task_lookup", "notification")


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
                    if table not in MAY_BE_EMPTY:
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
    assert names == {
        "collabspace_user_by_email",
        "collabspace_append",
        "collabspace_append_batch",
        "collabspace_search",
    }, names
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
        for table in READ_ONLY_TABLES:
            assert await app.fetchval(
                "SELECT has_table_privilege(current_user, $1, 'SELECT')", table
            ), table
            for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
                assert not await app.fetchval(
                    "SELECT has_table_privilege(current_user, $1, $2)", table, privilege
                ), (table, privilege)
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


def _batch(tenant: str, caller: str, stream: str, expected: int = 0) -> tuple[Any, ...]:
    """`collabspace_append_batch`'s arrays for one command of one event, without a key."""
    return (
        [tenant], [caller], [None], [None], [None], [None], [None], [None],
        [1], [stream], [expected], [1],
        [1], [expected + 1], [None], ["Probe"], [1], ["{}"], ["{}"], [utc_now()],
    )  # fmt: skip


async def test_the_batch_append_writes_each_command_for_its_own_tenant_only(pg_url: str) -> None:
    """Group commit (issue 18): a batch spans tenants, so the function checks each command:
    its events' tenant must be its session's, a request's session may append only its own
    tenant's events, and a stream that exists belongs to one tenant."""
    world = await _world(pg_url)
    a, b = world["A"]["tenant_id"], world["B"]["tenant_id"]
    app = await asyncpg.connect(asyncpg_dsn(app_url_for(pg_url)))
    call = (
        "SELECT command, last_position, failure FROM collabspace_append_batch($1, $2, $3, $4,"
        " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    )
    try:
        head_before = await _head(pg_url)
        # Events of B from a command whose session was bound to A; and a request's session
        # (bound to A) naming B as both: refused, and no position used.
        for setting, caller in (("", a), (a, b)):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with app.transaction():
                    await app.execute("SELECT set_config('app.tenant_id', $1, true)", setting)
                    await app.fetch(call, *_batch(b, caller, f"s-{uuid.uuid4()}"))
        assert await _head(pg_url) == head_before
        # B's project stream, extended by a command of A at its very version: that command
        # fails alone (at any other version it is a conflict, as before).
        theirs = f"project-{world['B']['project_id']}"
        version = await _version(pg_url, theirs)
        rows = await app.fetch(call, *_batch(a, a, theirs, version))
        assert [tuple(r) for r in rows] == [(1, None, "tenant")]
        rows = await app.fetch(call, *_batch(a, a, theirs, version - 1))
        assert [tuple(r) for r in rows] == [(1, None, "version")]
        assert await _head(pg_url) == head_before
    finally:
        await app.close()


async def _version(pg_url: str, stream: str) -> int:
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        return int(
            await owner.fetchval("SELECT max(version) FROM event WHERE stream_id = $1", stream)
        )
    finally:
        await owner.close()


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


async def test_every_table_with_a_tenant_has_its_policy_and_is_listed_here(pg_url: str) -> None:
    """The catalog: a table that carries tenant_id without row-level security (or missing from
    TENANT_TABLES, so the tests above never look at it) fails here."""
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        rows = await owner.fetch(
            "SELECT c.relname, c.relrowsecurity,"
            " EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid"
            "         AND p.polname = 'tenant_isolation') AS has_policy"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            # A rebuild's shadow copies (app.readside.rebuild) live only while it runs.
            " AND c.relname NOT LIKE '%\\_\\_rebuild%'"
        )
    finally:
        await owner.close()
    tables = {row["relname"]: (row["relrowsecurity"], row["has_policy"]) for row in rows}
    assert set(tables) == set(TENANT_TABLES), set(tables) ^ set(TENANT_TABLES)
    assert all(protected == (True, True) for protected in tables.values()), tables


SEARCH_TABLES = ("search_entry", "search_member", "search_lookup")


async def _search_privileges(pg_url: str) -> dict[tuple[str, str], bool]:
    app = await asyncpg.connect(asyncpg_dsn(app_url_for(pg_url)))
    try:
        return {
            (table, privilege): bool(
                await app.fetchval(
                    "SELECT has_table_privilege(current_user, $1, $2)", table, privilege
                )
            )
            for table in SEARCH_TABLES
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE")
        }
    finally:
        await app.close()


async def test_the_app_role_only_reads_the_search_tables_before_and_after_a_rebuild(
    pg_url: str,
) -> None:
    """The search model is written by its projection (the owner's connection) alone; a
    rebuild's swapped-in tables keep the same grants and the tenant policy."""
    from app import readmodels
    from tests.support import engine_for

    await _world(pg_url)
    expected = {
        (table, privilege): privilege == "SELECT"
        for table in SEARCH_TABLES
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE")
    }
    assert await _search_privileges(pg_url) == expected
    engine = engine_for(pg_url)
    try:
        await readmodels.rebuild(engine, "search")
    finally:
        await engine.dispose()
    assert await _search_privileges(pg_url) == expected
    owner = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        secured = await owner.fetch(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY($1::text[])",
            list(SEARCH_TABLES),
        )
        assert {r["relname"]: r["relrowsecurity"] for r in secured} == dict.fromkeys(
            SEARCH_TABLES, True
        )
        methods = await owner.fetch(
            "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'ix_search_entry_tsv'"
        )
        assert [r["amname"] for r in methods] == ["gin"]
    finally:
        await owner.close()


async def test_the_search_function_answers_the_transactions_tenant_only(pg_url: str) -> None:
    """collabspace_search runs as the owner (the GIN index under RLS, migration 0009) and
    applies the tenant policy itself: no tenant set, no rows; never another tenant's, even
    when the tenant it is handed (migration 0011) names another."""
    world = await _world(pg_url)
    a, b = world["A"]["tenant_id"], world["B"]["tenant_id"]
    call = "SELECT hit_title FROM collabspace_search($1, $2, $3, true, 50, NULL, NULL, NULL, NULL)"
    app = await asyncpg.connect(asyncpg_dsn(app_url_for(pg_url)))
    try:
        assert await app.fetch(call, a, "'project':*", "") == []
        for mine, theirs, label in ((a, b, "A"), (b, a, "B")):
            async with app.transaction():
                await app.execute("SELECT set_config('app.tenant_id', $1, true)", mine)
                found = [r["hit_title"] for r in await app.fetch(call, mine, "'project':*", "")]
                # Handed the other tenant: nothing, not the other tenant's rows.
                assert await app.fetch(call, theirs, "'project':*", "") == []
            assert found == [f"Project {label}"], found
        async with app.transaction():
            await app.execute("SELECT set_config('app.tenant_id', '', true)")
            assert await app.fetch(call, "", "'project':*", "") == []
            assert await app.fetch(call, a, "'project':*", "") == []
    finally:
        await app.close()
