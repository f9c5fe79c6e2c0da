from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import api_client, fresh_database, settings_for


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database(prefix="cs_reports") as url:
        yield url


@pytest.fixture
async def client(pg_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(settings_for(pg_url)) as c:
        yield c
