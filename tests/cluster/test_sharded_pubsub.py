"""The relay's SPUBLISH and the gateway's per-shard SSUBSCRIBE on a real Redis Cluster.

The broker under test is the gateway's own (realtime/shards.py), fed by the relay's own
publisher (app/relay/publisher.py); what the tests check is read back from the cluster's
nodes (PUBSUB SHARDNUMSUB, CLIENT LIST), not from the broker's word for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from app.relay.publisher import Message, Publisher, PublishError, ShardedPublisher, make_publisher
from app.tools.redis_cluster import LocalRedisCluster
from realtime.config import GatewayConfig
from realtime.main import broker_for
from realtime.shards import ShardedBroker
from tests.relay.test_publisher_contract import PublisherContract

T = 5.0


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.arrived = asyncio.Event()

    def __call__(self, channel: str, data: bytes) -> None:
        self.got.append((channel, data))
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 2 * T) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"{len(self.got)} of {count}: {self.got[-3:]}"
            self.arrived.clear()
            try:
                async with asyncio.timeout(0.1):
                    await self.arrived.wait()
            except TimeoutError:
                pass


def channels_on_each_shard(cluster: LocalRedisCluster, per_shard: int) -> dict[int, list[str]]:
    """Project-like channel names, `per_shard` of them on each primary."""
    out: dict[int, list[str]] = {}
    prefix = f"cs-{uuid.uuid4().hex[:6]}:t"
    n = 0
    while len(out) < 3 or any(len(v) < per_shard for v in out.values()):
        name = f"{prefix}:project:{n}"
        n += 1
        owner = cluster.primary_of(name)
        if len(out.setdefault(owner, [])) < per_shard:
            out[owner].append(name)
    return out


async def shard_subscribers(port: int, channel: str) -> int:
    node = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        reply = await node.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])
    finally:
        await node.aclose()


async def started(cluster: LocalRedisCluster, inbox: Inbox) -> ShardedBroker:
    broker = broker_for(GatewayConfig(secret_key="x" * 16, redis_url=cluster.url))
    assert isinstance(broker, ShardedBroker)
    await broker.start(inbox)
    return broker


async def test_a_cluster_url_gets_the_sharded_broker_and_publisher(
    redis_cluster: LocalRedisCluster,
) -> None:
    publisher = make_publisher(redis_cluster.url)
    try:
        assert isinstance(publisher, ShardedPublisher)
    finally:
        await publisher.close()


async def test_events_published_by_the_relay_reach_subscribers_on_every_shard_in_order(
    redis_cluster: LocalRedisCluster,
) -> None:
    inbox = Inbox()
    broker = await started(redis_cluster, inbox)
    publisher = ShardedPublisher(redis_cluster.url)
    try:
        by_shard = channels_on_each_shard(redis_cluster, 2)
        channels = [c for names in by_shard.values() for c in names]
        for channel in channels:
            await broker.subscribe(channel)
        # One connection per shard with channels, and each node counts exactly one subscriber.
        assert sorted(p for _, p in broker.shard_addresses) == sorted(by_shard)
        for port, names in by_shard.items():
            for name in names:
                assert await shard_subscribers(port, name) == 1
        # Interleaved across shards; each channel's messages must arrive in publish order.
        batch = [(c, f"{c}#{i}".encode()) for i in range(50) for c in channels]
        await publisher.publish_batch(batch)
        await inbox.wait_for(len(batch))
        for channel in channels:
            mine = [d for c, d in inbox.got if c == channel]
            assert mine == [f"{channel}#{i}".encode() for i in range(50)]
        # The gateway's own publish (presence, ephemeral broadcasts) is sharded too.
        await broker.publish(channels[0] + ":live", b"nobody listens")
    finally:
        await publisher.close()
        await broker.close()


async def test_a_shards_connection_opens_with_its_first_channel_and_closes_with_its_last(
    redis_cluster: LocalRedisCluster,
) -> None:
    broker = await started(redis_cluster, Inbox())
    try:
        by_shard = channels_on_each_shard(redis_cluster, 2)
        port, (first, second) = next(iter(by_shard.items()))
        await broker.subscribe(first)
        await broker.subscribe(second)
        assert [p for _, p in broker.shard_addresses] == [port]
        await broker.unsubscribe(first)
        assert await shard_subscribers(port, first) == 0
        assert await shard_subscribers(port, second) == 1
        assert [p for _, p in broker.shard_addresses] == [port]
        await broker.unsubscribe(second)
        assert broker.shard_addresses == []
        assert await shard_subscribers(port, second) == 0
    finally:
        await broker.close()


async def publish_until_taken(publisher: ShardedPublisher, batch: list[tuple[str, bytes]]) -> int:
    """As the relay does: retry a failed batch (at least once) until the cluster takes it."""
    failures = 0
    deadline = time.monotonic() + 6 * T
    while True:
        try:
            await publisher.publish_batch(batch)
            return failures
        except PublishError:
            failures += 1
            assert time.monotonic() < deadline, "the cluster never took the batch"
            await asyncio.sleep(0.2)


async def test_a_planned_failover_moves_the_channels_to_the_new_primary(
    redis_cluster: LocalRedisCluster,
) -> None:
    inbox = Inbox()
    broker = await started(redis_cluster, inbox)
    publisher = ShardedPublisher(redis_cluster.url)
    try:
        by_shard = channels_on_each_shard(redis_cluster, 2)
        old = sorted(by_shard)[0]
        for channel in by_shard[old]:
            await broker.subscribe(channel)
        new = await asyncio.to_thread(redis_cluster.hand_over, old)
        # The old primary is alive and now a replica: its SUNSUBSCRIBEs move the channels.
        deadline = time.monotonic() + 4 * T
        for channel in by_shard[old]:
            while await shard_subscribers(new, channel) != 1:
                assert time.monotonic() < deadline, f"not moved; orphans {broker.orphans}"
                await asyncio.sleep(0.05)
        assert [p for _, p in broker.shard_addresses] == [new]
        await publish_until_taken(publisher, [(c, b"on the new primary") for c in by_shard[old]])
        await inbox.wait_for(2)
        assert sorted(c for c, _ in inbox.got) == sorted(by_shard[old])
    finally:
        await publisher.close()
        await broker.close()


async def test_after_a_primary_is_killed_the_broker_resubscribes_on_the_promoted_replica(
    redis_cluster: LocalRedisCluster,
) -> None:
    inbox = Inbox()
    broker = await started(redis_cluster, inbox)
    publisher = ShardedPublisher(redis_cluster.url)
    try:
        by_shard = channels_on_each_shard(redis_cluster, 1)
        doomed = sorted(by_shard)[0]
        channels = [names[0] for names in by_shard.values()]
        for channel in channels:
            await broker.subscribe(channel)
        await publisher.publish_batch([(c, b"before") for c in channels])
        await inbox.wait_for(3)

        await asyncio.to_thread(redis_cluster.kill, doomed)  # SIGKILL: a real crash
        await asyncio.to_thread(redis_cluster.wait_promoted, doomed)
        (moved,) = by_shard[doomed]
        promoted = redis_cluster.primary_of(moved)
        assert promoted != doomed and key_slot(moved.encode()) >= 0

        # Nobody tells the broker: it finds the new primary and subscribes there by itself.
        deadline = time.monotonic() + 4 * T
        while await shard_subscribers(promoted, moved) != 1:
            assert time.monotonic() < deadline, f"not resubscribed; orphans {broker.orphans}"
            await asyncio.sleep(0.1)
        await publish_until_taken(publisher, [(c, b"after") for c in channels])
        await inbox.wait_for(6)
        assert sorted(c for c, d in inbox.got if d == b"after") == sorted(channels)
        assert promoted in [p for _, p in broker.shard_addresses]
        assert doomed not in [p for _, p in broker.shard_addresses]
    finally:
        await publisher.close()
        await broker.close()


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://127.0.0.1:7000/3", "redis+cluster://127.0.0.1", "redis+cluster://:7000"],
)
def test_a_cluster_url_with_a_database_or_without_ports_is_refused(url: str) -> None:
    from realtime.redisurl import cluster_options

    with pytest.raises(ValueError):
        cluster_options(url)


def test_a_cluster_url_names_its_seeds_credentials_and_tls() -> None:
    from realtime.redisurl import cluster_options

    seeds, options = cluster_options("rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001/")
    assert seeds == [("10.0.0.1", 7000), ("::1", 7001)]
    assert options == {"ssl": True, "username": "app", "password": "p@ss"}


class TestShardedPublisher(PublisherContract):
    """The relay's Publisher contract on the cluster, heard through the gateway's own broker."""

    @pytest.fixture
    async def publisher(self, redis_cluster: LocalRedisCluster) -> AsyncIterator[Publisher]:
        publisher = ShardedPublisher(redis_cluster.url)
        yield publisher
        await publisher.close()

    @pytest.fixture
    def prefix(self) -> str:
        return f"cs-contract-{uuid.uuid4().hex[:8]}"

    @contextlib.asynccontextmanager
    async def listening(
        self, publisher: Publisher, channels: list[str]
    ) -> AsyncIterator[list[Message]]:
        assert isinstance(publisher, ShardedPublisher)
        received: list[Message] = []
        broker = ShardedBroker(publisher.url)
        await broker.start(lambda channel, data: received.append((channel, data)))
        try:
            for channel in channels:
                await broker.subscribe(channel)
            yield received
        finally:
            await broker.close()
