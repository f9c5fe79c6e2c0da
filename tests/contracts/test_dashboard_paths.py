"""The one-statement dashboard (asyncpg, autocommit) answers what the SQLAlchemy one does."""

from __future__ import annotations

import orjson

from app.eventstore.postgres import PgPool
from app.kernel.db import make_engine, snapshot
from app.kernel.domain import Actor
from app.projects import views
from tests.support import api_client, app_url_for, settings_for, sign_up


async def test_one_statement_dashboard_equals_the_sqlalchemy_one(pg_url: str) -> None:
    async with api_client(settings_for(pg_url)) as client:
        owner = await sign_up(client, tenant="Dash")
        other = await sign_up(client, tenant="Other")
        project = (
            await client.post("/projects", json={"name": "Dash"}, headers=owner["headers"])
        ).json()
        for n in range(25):
            task = await client.post(
                f"/projects/{project['id']}/tasks",
                json={"title": f"T{n}"},
                headers=owner["headers"],
            )
            assert task.status_code == 201
        me = (await client.get("/me", headers=owner["headers"])).json()
        theirs = (await client.get("/me", headers=other["headers"])).json()
        last = task.json()["position"]
        via_api = await client.get(
            f"/projects/{project['id']}/dashboard",
            params={"min_position": last},
            headers=owner["headers"],
        )
        assert via_api.status_code == 200, via_api.text
        assert len(via_api.json()["recent_activity"]) == 20
        denied = await client.get(f"/projects/{project['id']}/dashboard", headers=other["headers"])
        assert denied.status_code == 404
    actor = Actor(me["tenant_id"], me["id"], "owner")
    engine = make_engine(pg_url)
    pool = PgPool(app_url_for(pg_url), size=2)
    try:
        async with snapshot(engine) as connection:
            expected = await views.project_dashboard(connection, actor, project["id"])
        async with pool.autocommit() as raw:
            found = await views.dashboard_document(raw, actor, project["id"])
        assert found is not None
        assert orjson.loads(found[0]) == expected == via_api.json()
        # The same pooled connection, now for the other tenant: row security hides the project.
        # And outside the function, the connection carries no tenant: it sees no rows at all.
        async with pool.autocommit() as raw:
            assert await raw.fetchval("SELECT count(*) FROM project_summary") == 0
        stranger = Actor(theirs["tenant_id"], theirs["id"], "owner")
        async with pool.autocommit() as raw:
            try:
                await views.dashboard_document(raw, stranger, project["id"])
            except views.ProjectNotFoundError:
                pass
            else:
                raise AssertionError("another tenant read the dashboard")
    finally:
        await pool.close()
        await engine.dispose()
