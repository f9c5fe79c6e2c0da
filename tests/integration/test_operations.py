from __future__ import annotations

import httpx

from tests.support import api_client, create_project_for, settings_for, sign_up


async def test_metrics_show_the_projections_catching_up_with_the_commits(pg_url: str) -> None:
    async with api_client(settings_for(pg_url)) as client:
        owner = await sign_up(client)
        position = await create_project_for(client, owner)
        await client.get("/projects", params={"min_position": position}, headers=owner["headers"])
        text = (await client.get("/metrics")).text
    assert "collabspace_projection_checkpoint" in text
    assert 'collabspace_projection_checkpoint{projection="projects"}' in text
    assert "process_resident_memory_bytes" in text


async def test_readyz_reports_the_relay_when_it_runs(pg_url: str) -> None:
    async with api_client(settings_for(pg_url, run_relay=True)) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "relay": "ok"}


async def test_readyz_answers_503_when_the_database_is_unreachable() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    settings = settings_for(url, run_projections=False)
    async with api_client(settings) as client:
        ready: httpx.Response = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"
