from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from gateway_helpers import REDIS_URL, Node, Relay


@pytest.fixture(scope="session")
def prefix() -> str:
    # The Redis server is shared: each run uses its own channel prefix and never flushes.
    return f"cs-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def relay(redis: aioredis.Redis, prefix: str) -> Relay:
    return Relay(redis, prefix)


@pytest.fixture(scope="session")
async def nodes(prefix: str) -> AsyncIterator[tuple[Node, Node]]:
    """Two gateway processes shared by the tests that do not stop or overload them."""
    a, b = Node(prefix), Node(prefix)
    try:
        yield await a.ready(), await b.ready()
    finally:
        a.kill()
        b.kill()


@pytest.fixture
async def own_node(prefix: str) -> AsyncIterator[Callable[..., Node]]:
    """Start a dedicated node (with its own env) for tests that stop or overload it."""
    started: list[Node] = []

    def start(**env: str) -> Node:
        node = Node(prefix, **env)
        started.append(node)
        return node

    yield start
    for node in started:
        node.kill()
