"""The read side's fixtures: one throwaway PostgreSQL database per run, the real bus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Services, bootstrap
from app.kernel.db import make_engine
from app.tenants.passwords import Argon2Hasher
from tests.readside.script import Script
from tests.support import fresh_database, settings_for


@pytest.fixture(scope="session")
async def read_url() -> AsyncIterator[str]:
    async with fresh_database(prefix="cs_read") as url:
        yield url


@pytest.fixture(scope="session")
async def engine(read_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(read_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def services(read_url: str, engine: AsyncEngine) -> Services:
    return bootstrap(settings_for(read_url), engine, hasher=Argon2Hasher(fast=True))


@pytest.fixture
def script(services: Services) -> Script:
    return Script(services.bus)
