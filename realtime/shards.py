"""The broker on a Redis Cluster: SPUBLISH, and SSUBSCRIBE on one connection per shard.

Classic PUBLISH on a cluster is broadcast to every node, so it does not grow with shards;
sharded pub/sub sends a channel's messages only to the shard that owns its slot, where its
subscribers must be connected. This node keeps one pub/sub connection per shard primary it has
channels on, opened with its first channel there and closed with its last, each read by its own
task. The fan-out above it still subscribes a channel on its first local member and
unsubscribes it on its last, as with one Redis.

Why not redis-py's `RedisCluster.pubsub()`: the project supports redis-py 5 to 8, and asyncio
cluster pub/sub (even asyncio `PubSub.ssubscribe`) only exists in 8.x, where its
re-subscription after a failover was still being fixed (CROSSSLOT on resubscribe, a dead
node's channels never moving: redis-py #4038, #4076). The part needed here is small: a slot map
from CLUSTER SLOTS (slots.py) and a plain connection per primary (shardconn.py).

Failover: a shard connection that breaks (its primary killed), a server-side SUNSUBSCRIBE (its
slot moved) or a periodic check of the slot map that finds a channel's owner changed puts the
channel in `orphans`; a recovery task re-reads the slot map and subscribes the orphans on their
new primary, retrying with a capped backoff until the replica has taken over. Messages
published meanwhile are lost here, exactly as across a restart of one Redis: the fan-out sees
the hole in the next event's `prev` and repairs it from the event store (repair.py), or resyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from realtime import redisurl
from realtime.broker import Broker, BrokerError, MessageHandler
from realtime.shardconn import ShardConnection
from realtime.slots import Address, SlotMap

log = logging.getLogger("realtime.shards")
# How often the slot map is re-read even when nothing broke: a primary demoted without a
# dropped connection, or a network partition, still moves its channels within this.
TOPOLOGY_CHECK_S = 5.0
MAX_BACKOFF_S = 2.0


class ShardedBroker(Broker):
    """Sharded pub/sub on a Redis Cluster, with a connection per shard that has channels."""

    def __init__(self, url: str) -> None:
        self._seeds, self._options = redisurl.cluster_options(url)
        self._url = url
        self._publisher: redisurl.Client | None = None
        self.handler: MessageHandler = _unstarted
        self.slots = SlotMap()
        self._shards: dict[Address, ShardConnection] = {}
        self._where: dict[str, Address] = {}  # channel -> the shard it is subscribed on
        self.orphans: set[str] = set()  # wanted, but their shard was lost: being moved
        self._lock = asyncio.Lock()  # one subscription change or recovery at a time
        self._wake = asyncio.Event()
        self._recovery: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()  # shard closes under way (kept alive)

    async def start(self, handler: MessageHandler) -> None:
        self.handler = handler
        self._publisher = redisurl.connect(self._url)
        await self._publisher.ping()
        await self._read_slots()
        self._recovery = asyncio.create_task(self._recover(), name="shard-recovery")

    @property
    def shard_addresses(self) -> list[Address]:
        """The primaries this node holds a pub/sub connection to (for tests and metrics)."""
        return list(self._shards)

    def owner(self, channel: str) -> Address:
        address = self.slots.owner(channel)
        if address is None:
            raise BrokerError(f"no shard serves {channel}'s slot")
        return address

    async def _read_slots(self) -> None:
        # Nodes we hold connections to first, then the seeds, then every primary last known.
        candidates = [*self._shards, *self._seeds, *self.slots.primaries()]
        await self.slots.read(candidates, self._options)

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self._where:
                return
            try:
                await self._subscribe_on_owner(channel)
            except (RedisError, OSError, TimeoutError) as exc:
                raise BrokerError(f"ssubscribe {channel}: {exc!r}") from None

    async def _subscribe_on_owner(self, channel: str) -> None:
        address = self.owner(channel)
        shard = self._shards.get(address)
        if shard is None:
            shard = ShardConnection(address, self._options, self._deliver, self.lost)
            try:
                await shard.open()
            except BaseException:
                await shard.close()
                raise
            self._shards[address] = shard
        try:
            await shard.subscribe(channel)
        finally:
            if not shard.channels:
                await self._drop_shard(shard)
        self._where[channel] = address
        self.orphans.discard(channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self.orphans.discard(channel)
            address = self._where.pop(channel, None)
            shard = None if address is None else self._shards.get(address)
            if shard is None:
                return
            try:
                await shard.unsubscribe(channel)
            except (RedisError, OSError) as exc:
                raise BrokerError(f"sunsubscribe {channel}: {exc!r}") from None
            finally:
                if not shard.channels:  # its last channel: the connection goes too
                    await self._drop_shard(shard)

    async def _drop_shard(self, shard: ShardConnection) -> None:
        if self._shards.get(shard.address) is shard:
            del self._shards[shard.address]
        await shard.close()

    def _deliver(self, channel: str, data: bytes) -> None:
        self.handler(channel, data)

    def lost(self, shard: ShardConnection, channels: set[str], why: object) -> None:
        """Called by a shard's reader: these channels need a new subscription."""
        log.warning(
            "shard %s lost %d channels (%r); moving them", shard.address, len(channels), why
        )
        for channel in channels:
            if self._where.get(channel) == shard.address:
                del self._where[channel]
                self.orphans.add(channel)
        if not shard.channels or isinstance(why, BaseException):
            if self._shards.get(shard.address) is shard:
                del self._shards[shard.address]
            self._close_later(shard)
        self._wake.set()

    def _close_later(self, shard: ShardConnection) -> None:
        task = asyncio.get_running_loop().create_task(shard.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _recover(self) -> None:
        backoff = 0.05
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TOPOLOGY_CHECK_S if not self.orphans else backoff):
                    await self._wake.wait()
            self._wake.clear()
            try:
                async with self._lock:
                    await self._read_slots()
                    self._orphan_moved()
                    for channel in sorted(self.orphans):
                        await self._subscribe_on_owner(channel)
            except (RedisError, OSError, TimeoutError, BrokerError) as exc:
                log.info("shard recovery: %d channels wait (%r)", len(self.orphans), exc)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if backoff > 0.05:
                log.info("shard recovery: every channel subscribed on its primary again")
            backoff = 0.05

    def _orphan_moved(self) -> None:
        """Channels whose slot now belongs to another primary leave their old connection."""
        for channel, address in list(self._where.items()):
            if self.owner(channel) != address:
                del self._where[channel]
                self.orphans.add(channel)
                shard = self._shards.get(address)
                if shard is not None:
                    shard.channels.discard(channel)
                    if not shard.channels:
                        del self._shards[address]
                        self._close_later(shard)

    async def publish(self, channel: str, data: bytes) -> None:
        assert self._publisher is not None, "start() first"
        await self._publisher.execute_command(
            "SPUBLISH", channel, data
        )  # redis-py 5 has no spublish

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        for shard in list(self._shards.values()):
            await shard.close()
        self._shards.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._publisher is not None:
            await self._publisher.aclose()


def _unstarted(channel: str, data: bytes) -> None:
    raise RuntimeError("ShardedBroker.start() first")
