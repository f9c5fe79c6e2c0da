"""GET /internal/backfill with the API as the app role: it answers the tenant's events (through
the owner's connection, since row-level security would hide them all) and nothing of another's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from app.kernel.tokens import TokenSigner
from tests.support import SECRET, api_client, settings_for, sign_up


def _service_headers() -> dict[str, str]:
    token = TokenSigner(SECRET).issue(
        {"sub": "gateway"}, kind="service", now=datetime.now(UTC), ttl_s=60
    )
    return {"Authorization": f"Bearer {token}"}


async def _project(client: httpx.AsyncClient, owner: dict[str, Any]) -> str:
    created = await client.post("/projects", json={"name": "P"}, headers=owner["headers"])
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _backfill(client: httpx.AsyncClient, tenant: str, scope: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/internal/backfill",
        params={"tenant": tenant, "scope": scope, "after": 0},
        headers=_service_headers(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["complete"] is True
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def test_backfill_as_the_app_role_answers_the_tenants_events_and_no_others(
    pg_url: str,
) -> None:
    settings = settings_for(pg_url)
    assert settings.request_database_url != settings.database_url  # requests as the app role
    async with api_client(settings) as client:
        ada, bob = await sign_up(client, "Ada's"), await sign_up(client, "Bob's")
        ada_project, bob_project = await _project(client, ada), await _project(client, bob)
        ada_tenant, bob_tenant = ada["tenant_id"], bob["tenant_id"]

        mine = await _backfill(client, ada_tenant, f"project:{ada_project}")
        assert [e["type"] for e in mine][0] == "ProjectCreated"
        tenant_wide = await _backfill(client, ada_tenant, "tenant")
        assert tenant_wide and {e["tenant"] for e in tenant_wide} == {ada_tenant}
        # Another tenant's project named with my tenant: nothing, not its events.
        assert await _backfill(client, ada_tenant, f"project:{bob_project}") == []
        assert await _backfill(client, bob_tenant, f"project:{bob_project}")
