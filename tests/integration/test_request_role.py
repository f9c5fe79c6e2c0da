"""The request paths' role: it must be able to log in (checked at start-up), and its own pool,
which nothing else keeps warm, reconnects when the database drops its idle sessions."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest

from app.settings import SettingsError
from tests.support import api_client, settings_for, sign_up


async def test_the_api_refuses_to_start_when_the_request_role_cannot_log_in(pg_url: str) -> None:
    settings = settings_for(pg_url, app_database_url=pg_url.replace("postgres@", "no_such_role@"))
    with pytest.raises(SettingsError, match="cannot log in"):
        async with api_client(settings):
            pass


async def test_a_ticket_after_the_database_dropped_every_session_is_still_issued(
    pg_url: str,
) -> None:
    async with api_client(settings_for(pg_url)) as client:
        owner = await sign_up(client)
        first = await client.post("/auth/realtime-ticket", headers=owner["headers"])
        assert first.status_code == 200, first.text
        admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert dropped > 0
        again = await client.post("/auth/realtime-ticket", headers=owner["headers"])
        assert again.status_code == 200, again.text
