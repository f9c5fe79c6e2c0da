"""One topology for the module's tests, started once and torn down after (no orphans)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.system.topology import OwnRedis, Topology, running, running_with_own_redis


@pytest.fixture(scope="session")
async def topology() -> AsyncIterator[Topology]:
    """The recommended deployment on the shared PostgreSQL and Redis (own db, own prefix)."""
    async with running("shared") as started:
        yield started


@pytest.fixture(scope="module")
async def faulty() -> AsyncIterator[tuple[Topology, OwnRedis]]:
    """A second instance on a private redis-server that tests stop, and nodes they kill."""
    async with running_with_own_redis("own-redis") as started:
        yield started
