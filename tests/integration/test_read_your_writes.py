"""`?min_position=` waits for the read models wherever the projections run.

The recommended topology runs them in the worker (`RUN_PROJECTIONS=0` on the API): the API then
watches the checkpoint table (app.readside.checkpoint_watch). Issue 14 found it answered at once
there: a stale 200 with `X-Read-Lag`, and 404 for a project just created. Here the "worker" is
a ProjectionRunner on the owner's engine that starts only after the query is already waiting.
"""

from __future__ import annotations

import asyncio
import time

from app import readmodels
from app.kernel.db import make_engine
from app.readside.runner import ProjectionRunner
from tests.support import api_client, settings_for, sign_up


async def test_min_position_waits_for_projections_run_by_another_process(pg_url: str) -> None:
    engine = make_engine(pg_url)
    runner = ProjectionRunner(engine, readmodels.projectors())
    settings = settings_for(pg_url, run_projections=False)
    try:
        async with api_client(settings) as client:
            owner = await sign_up(client, tenant="Split RYW")
            created = await client.post(
                "/projects", json={"name": "Fresh"}, headers=owner["headers"]
            )
            assert created.status_code == 201, created.text
            project, position = created.json()["id"], created.json()["position"]
            params = {"min_position": position}
            reads = [
                asyncio.create_task(client.get(path, params=params, headers=owner["headers"]))
                for path in (
                    f"/projects/{project}/dashboard",
                    f"/projects/{project}/board",
                    "/projects",
                )
            ]
            await asyncio.sleep(0.3)  # the queries are waiting; the worker catches up now
            assert not any(r.done() for r in reads)
            await runner.start()
            for answer in await asyncio.gather(*reads):
                assert answer.status_code == 200, (answer.request.url, answer.text)
                assert "x-read-lag" not in answer.headers, answer.request.url
                assert int(answer.headers["x-as-of-position"]) >= position
            listed = reads[2].result().json()
            assert [p["project_id"] for p in listed["items"]] == [project]
    finally:
        await runner.stop()
        await engine.dispose()


async def test_min_position_answers_with_the_lag_after_two_seconds(pg_url: str) -> None:
    """Nobody applies the projections: the query waits its 2 s, then says how far behind."""
    async with api_client(settings_for(pg_url, run_projections=False)) as client:
        owner = await sign_up(client, tenant="Stalled RYW")
        created = await client.post("/projects", json={"name": "Late"}, headers=owner["headers"])
        position = created.json()["position"]
        started = time.monotonic()
        answer = await client.get(
            "/projects", params={"min_position": position}, headers=owner["headers"]
        )
        waited = time.monotonic() - started
    assert answer.status_code == 200
    assert 1.9 <= waited < 5, waited
    assert int(answer.headers["x-read-lag"]) == position - int(answer.headers["x-as-of-position"])
