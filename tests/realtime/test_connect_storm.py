"""A connect storm (a deploy's reconnect wave): the broker subscriptions, ticket claims and
presence joins of connections arriving together are batched, and every guarantee still holds
for each connection: a join returns only once the broker delivers the channel, a ticket opens
one connection, and presence converges on who is there."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from gateway_helpers import REDIS_URL, Client, Node, Relay, T, mint, new_id
from websockets.exceptions import ConnectionClosed

from realtime.broker import Broker, BrokerError, MessageHandler, RedisBroker
from realtime.fanout import Fanout
from realtime.metrics import Metrics
from realtime.presence import MemoryPresenceStore, Presence, RedisPresenceStore
from realtime.state import Session
from realtime.tickets import RedisTicketStore


class CountingBroker(Broker):
    """The real Redis broker, recording the size of every subscribe command sent to it."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.subscribe_batches: list[int] = []

    async def start(self, handler: MessageHandler) -> None:
        await self.inner.start(handler)

    async def subscribe(self, channel: str) -> None:
        await self.subscribe_many([channel])

    async def subscribe_many(self, channels: Sequence[str]) -> list[BrokerError | None]:
        self.subscribe_batches.append(len(channels))
        return await self.inner.subscribe_many(channels)

    async def unsubscribe(self, channel: str) -> None:
        await self.inner.unsubscribe(channel)

    async def unsubscribe_many(self, channels: Sequence[str]) -> None:
        await self.inner.unsubscribe_many(channels)

    async def publish(self, channel: str, data: bytes) -> None:
        await self.inner.publish(channel, data)

    async def close(self) -> None:
        await self.inner.close()


def member() -> Session:
    return cast(Session, object())  # the registry only needs something hashable


async def _wait_for(predicate: Any, timeout: float = T) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_channels_joined_together_take_one_subscribe_and_each_join_returns_delivered(
    prefix: str, redis: aioredis.Redis
) -> None:
    broker = CountingBroker(RedisBroker(REDIS_URL))
    received: defaultdict[str, list[bytes]] = defaultdict(list)
    await broker.start(lambda channel, data: received[channel].append(data))
    fanout = Fanout(broker, Metrics(), slow_consumer_bytes=1 << 20, max_batch_events=100)
    channels = [f"{prefix}:storm:user:{new_id()}" for _ in range(300)]
    try:
        publishing = asyncio.Semaphore(10)  # the shared client's pool

        async def join_then_publish(channel: str) -> None:
            await fanout.join(member(), channel, "", "user")
            # Published once the join returns: the node must already receive it.
            async with publishing:
                await redis.publish(channel, b"right after the join")

        await asyncio.gather(*(join_then_publish(c) for c in channels))
        await _wait_for(lambda: all(received[c] for c in channels))
        assert all(received[c] == [b"right after the join"] for c in channels)
        # 300 first members arriving together: a few SUBSCRIBE commands, not 300.
        assert sum(broker.subscribe_batches) == 300
        assert len(broker.subscribe_batches) <= 3, broker.subscribe_batches
        # A second member of a subscribed channel costs no round trip.
        await fanout.join(member(), channels[0], "", "user")
        assert len(broker.subscribe_batches) <= 3
    finally:
        await fanout.close()
        await broker.close()


async def test_joins_and_leaves_racing_converge_on_subscribed_iff_a_member_is_local(
    prefix: str, redis: aioredis.Redis
) -> None:
    broker = RedisBroker(REDIS_URL)
    received: defaultdict[str, list[bytes]] = defaultdict(list)
    await broker.start(lambda channel, data: received[channel].append(data))
    fanout = Fanout(broker, Metrics(), slow_consumer_bytes=1 << 20, max_batch_events=100)
    channels = [f"{prefix}:churn:user:{new_id()}" for _ in range(5)]
    rng = random.Random(17)
    members: dict[str, list[Session]] = {c: [] for c in channels}
    try:

        async def churn(worker: int) -> None:
            for _ in range(40):
                channel = rng.choice(channels)
                if members[channel] and rng.random() < 0.5:
                    fanout.leave(members[channel].pop(), channel)
                else:
                    m = member()
                    members[channel].append(m)
                    await fanout.join(m, channel, "", "user")
                    marker = f"{worker}-{time.monotonic()}".encode()
                    await redis.publish(channel, marker)
                    if m in members[channel]:  # still a member: it must have been delivered
                        await _wait_for(lambda c=channel, x=marker: x in received[c])
                await asyncio.sleep(rng.choice([0, 0, 0.001]))

        await asyncio.gather(*(churn(w) for w in range(8)))

        async def settled() -> bool:
            for c in channels:
                (_, subscribers), *_ = await redis.pubsub_numsub(c)
                if subscribers != (1 if members[c] else 0):
                    return False
            return True

        deadline = time.monotonic() + T
        while not await settled():
            assert time.monotonic() < deadline, "subscriptions did not converge"
            await asyncio.sleep(0.02)
        for c in channels:
            while members[c]:
                fanout.leave(members[c].pop(), c)
        deadline = time.monotonic() + T
        while not await settled():
            assert time.monotonic() < deadline, "the last leaves did not unsubscribe"
            await asyncio.sleep(0.02)
    finally:
        await fanout.close()
        await broker.close()


async def test_claims_sent_together_admit_a_ticket_once(prefix: str) -> None:
    store = RedisTicketStore(REDIS_URL, prefix)
    try:
        expires = int(time.time()) + 30
        twice, others = new_id(), [new_id() for _ in range(50)]
        results = await asyncio.gather(
            store.claim(twice, expires),
            *(store.claim(jti, expires) for jti in others),
            store.claim(twice, expires),
        )
        assert results[0] is True and results[-1] is False  # the same pipeline: one admitted
        assert all(r is True for r in results[1:-1])
        assert await store.claim(twice, expires) is False
    finally:
        await store.close()


async def test_one_ticket_presented_by_many_connections_at_once_opens_one(
    nodes: tuple[Node, Node],
) -> None:
    ticket = mint(new_id(), new_id())

    async def present(port: int) -> tuple[int | None, str | None] | str:
        c = await Client.open(port)
        await c.send({"type": "auth", "ticket": ticket})
        try:
            frame = await c.recv()
        except ConnectionClosed:
            return await c.closed()
        assert frame["type"] == "welcome", frame
        await c.close()
        return "welcome"

    outcomes = await asyncio.gather(*(present(nodes[i % 2].port) for i in range(40)))
    assert outcomes.count("welcome") == 1
    assert outcomes.count((4001, "ticket already used")) == 39


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
async def test_presence_joins_arriving_together_are_all_recorded_and_announced_once(
    prefix: str, store_kind: str
) -> None:
    store = MemoryPresenceStore() if store_kind == "memory" else RedisPresenceStore(REDIS_URL)
    broker = RedisBroker(REDIS_URL)
    heard: list[bytes] = []
    await broker.start(lambda channel, data: heard.append(data))
    presence = Presence(store, broker, Metrics(), prefix, ttl=20.0)
    key, live = presence.key(new_id(), new_id()), f"{prefix}:{new_id()}:live"
    await broker.subscribe(live)
    try:
        members = [f"u{i % 30}|s{i}|User {i % 30}" for i in range(60)]  # 30 users, 2 tabs each
        lists = await asyncio.gather(*(presence.join(key, live, m) for m in members))
        assert sorted(await store.members(key, time.time())) == sorted(members)
        assert {p["user"] for p in lists[-1]} == {f"u{i}" for i in range(30)}
        await _wait_for(lambda: sum(d.count(b'"user"') for d in heard) >= 30)
        await asyncio.sleep(0.1)
        # Each user announced once, whichever batch their tabs fell in.
        assert sum(d.count(b'"user"') for d in heard if b'"joined"' in d) == 30
        await presence.leave(key, live, members[0])  # the user's other tab stays
        assert members[0] not in await store.members(key, time.time())
        assert not [d for d in heard if b'"left"' in d]
    finally:
        await presence.close()
        await broker.close()


async def test_a_storm_of_users_on_two_nodes_all_subscribe_and_get_the_next_event(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    tenant = new_id()
    projects = [new_id() for _ in range(5)]
    gate = asyncio.Semaphore(100)

    async def connect(i: int) -> tuple[Client, str]:
        project = projects[i % len(projects)]
        async with gate:
            c = await Client.open(nodes[i % 2].port, mint(tenant, new_id(), projects=[project]))
            await c.subscribe(f"project:{project}")
        return c, project

    clients = await asyncio.gather(*(connect(i) for i in range(200)))
    sent = {p: (await relay.publish(relay.event(tenant, p)))[0].position for p in projects}
    for c, project in clients:
        (got,) = await c.events(f"project:{project}", 1)
        assert got["position"] == sent[project]
    for c, _ in clients:
        await c.close()
