"""The presence store's contract, on the in-memory twin and on a real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from gateway_helpers import REDIS_URL

from realtime.broker import MemoryBroker
from realtime.metrics import Metrics
from realtime.presence import (
    MemoryPresenceStore,
    Presence,
    PresenceBatch,
    PresenceStore,
    RedisPresenceStore,
)
from realtime.registry import ChannelState

STORES: dict[str, Callable[[], PresenceStore]] = {
    "memory": MemoryPresenceStore,
    "redis": lambda: RedisPresenceStore(REDIS_URL),
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PresenceStore]:
    made = STORES[request.param]()
    yield made
    await made.close()


# Expiry times are real clock times, taken when each test runs: the Redis key itself expires a
# minute after the latest expiry put in it.
def _times() -> tuple[float, float, float]:
    now = time.time()
    return now - 30, now, now + 30


def _key() -> str:
    # The Redis server is shared: every test uses its own key (they expire by themselves).
    return f"cs-test-{uuid.uuid4().hex}:presence:t:p"


async def test_expired_members_are_claimed_once_and_live_ones_stay(store: PresenceStore) -> None:
    past, now, future = _times()
    key = _key()
    await store.put(key, "u1|s1|Ann", past)
    await store.put(key, "u2|s2|Bob", future)
    assert await store.members(key, now) == ["u2|s2|Bob"]
    assert await store.claim_expired(key, now) == ["u1|s1|Ann"]
    assert await store.claim_expired(key, now) == []
    assert await store.members(key, now) == ["u2|s2|Bob"]


async def test_a_refreshed_member_is_not_claimed(store: PresenceStore) -> None:
    past, now, future = _times()
    key = _key()
    await store.put(key, "u1|s1|Ann", past)
    await store.put(key, "u1|s1|Ann", future)  # its node's heartbeat, before anyone sweeps
    assert await store.claim_expired(key, now) == []
    assert await store.members(key, now) == ["u1|s1|Ann"]


async def test_putting_many_members_tells_which_were_new_and_refreshes_the_others(
    store: PresenceStore,
) -> None:
    past, now, future = _times()
    key = _key()
    await store.put(key, "u1|s1|Ann", past)
    added = await store.put_many(key, ["u1|s1|Ann", "u2|s2|Bob"], future)
    assert added == [False, True]  # Ann refreshed (no longer expired), Bob new
    assert sorted(await store.members(key, now)) == ["u1|s1|Ann", "u2|s2|Bob"]
    assert await store.claim_expired(key, now) == []


async def test_nodes_sweeping_together_each_claim_a_disjoint_share() -> None:
    past, now, future = _times()
    key = _key()
    nodes = [RedisPresenceStore(REDIS_URL) for _ in range(3)]
    try:
        expired = {f"u{n}|s{n}|User {n}" for n in range(300)}
        for member in expired:
            await nodes[0].put(key, member, past)
        await nodes[0].put(key, "live|s|Live", future)
        shares = await asyncio.gather(*(node.claim_expired(key, now) for node in nodes))
        claimed = [member for share in shares for member in share]
        assert sorted(claimed) == sorted(expired)  # every one, and none twice
        assert await nodes[1].members(key, now) == ["live|s|Live"]
    finally:
        for node in nodes:
            await node.close()


async def test_a_member_swept_while_its_node_stalled_is_announced_back() -> None:
    store = MemoryPresenceStore()
    broker = MemoryBroker()
    heard: list[dict[str, object]] = []
    await broker.start(lambda channel, data: heard.append(orjson.loads(data)))
    presence = Presence(store, broker, Metrics(), "cs-test", ttl=20.0)
    key, live = presence.key("t", "p"), "cs-test:t:project:p:live"
    await broker.subscribe(live)
    await presence.join(key, live, "u1|s1|Ann")
    assert heard == [{"k": "presence", "joined": [{"user": "u1", "name": "Ann"}]}]
    # This node stalls past the ttl: another node's sweep claims the member (and says "left").
    assert await store.claim_expired(key, time.time() + 60) == ["u1|s1|Ann"]
    await presence._beat()  # the node wakes: its refresh finds the member gone
    assert heard[-1] == {"k": "presence", "joined": [{"user": "u1", "name": "Ann"}]}
    assert await store.members(key, time.time()) == ["u1|s1|Ann"]
    await presence._beat()  # a normal refresh announces nothing
    assert len(heard) == 2


def test_a_batch_keeps_each_users_last_change_per_channel() -> None:
    batch = PresenceBatch()
    one, two = ChannelState[Any]("b1", "project:1", "project"), ChannelState[Any]("b2", "", "live")
    ann, bob, cy = ({"user": u, "name": u.title()} for u in ("ann", "bob", "cy"))
    assert batch.add(one, [ann], []) is True  # the first change schedules the flush
    assert batch.add(one, [bob], []) is False
    assert batch.add(one, [], [ann]) is False  # Ann joined and left within the window
    assert batch.add(two, [cy], [{"user": 7}, "junk"]) is False  # malformed entries are dropped
    assert batch.drain() == [
        (one, {"left": [ann], "joined": [bob]}),
        (two, {"joined": [cy]}),
    ]
    assert batch.drain() == []
