"""A real Redis Cluster (3 primaries + 3 replicas, app/tools/redis_cluster.py) per module.

Modules that kill a primary get a cluster of their own; a cluster forms in about two seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.tools.redis_cluster import LocalRedisCluster


@pytest.fixture(scope="module")
async def redis_cluster() -> AsyncIterator[LocalRedisCluster]:
    cluster = LocalRedisCluster()
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)
