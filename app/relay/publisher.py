"""The Publisher port: how the relay puts encoded envelopes on the broker.

Like `broadcaster`: one port, a Redis adapter for deployments and an in-memory twin for the
embedded default (API and gateway in one process) and for tests. The in-memory publisher
forwards to any `PublishTarget` (an object with `async publish(channel, data)`), so the API can
point it at the gateway's in-process broker; on its own it forwards to a `MemoryHub`, which
lets in-process code subscribe.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from realtime import redisurl

Message = tuple[str, bytes]


class PublishError(Exception):
    """The broker did not take a batch; the caller retries it (publishing is at least once)."""


class PublishTarget(Protocol):
    async def publish(self, channel: str, data: bytes, /) -> None: ...


class Publisher(abc.ABC):
    @abc.abstractmethod
    async def publish_batch(self, messages: Sequence[Message]) -> None:
        """Publish every message in order, or raise PublishError (some may have gone out)."""

    async def close(self) -> None:
        return None


# Publishes ARGV pairs (channel, data) in order inside Redis: one command and one reply per
# batch, where a pipeline costs the client a reply parse per message (measured 2-3x slower).
_PUBLISH_ALL = """
for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return #ARGV / 2
"""
SCRIPT_CHUNK = 2000  # messages per script call, so no single call holds Redis for long


class RedisPublisher(Publisher):
    """PUBLISH each batch in order with one round trip: a Lua script (default) or a pipeline."""

    def __init__(self, url: str, *, timeout: float = 2.0, mode: str = "script") -> None:
        if mode not in ("script", "pipeline"):
            raise ValueError(f"unknown publish mode {mode!r}")
        self.mode = mode
        # One quick reconnect covers a pooled connection that died with a Redis restart; longer
        # outages are the relay's business (capped backoff, state, metrics), not the client's.
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._redis.register_script(_PUBLISH_ALL)

    async def publish_batch(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        try:
            if self.mode == "script":
                for start in range(0, len(messages), SCRIPT_CHUNK):
                    chunk = messages[start : start + SCRIPT_CHUNK]
                    await self._script(args=[part for message in chunk for part in message])
            else:
                # transaction=False: no MULTI/EXEC, the commands still run in pipeline order.
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, data in messages:
                        pipe.publish(channel, data)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            raise PublishError(f"redis: {exc!r}") from None

    async def close(self) -> None:
        await self._redis.aclose()


class ShardedPublisher(Publisher):
    """SPUBLISH on a Redis Cluster: each channel's messages go to the shard owning its slot.

    A batch is one pipeline: the cluster client splits it by node and sends each node its
    commands in batch order, so each channel keeps its order (all a channel's messages go to
    one node; the `prev` chain is per channel). Channels carry no hash tag: a project's events
    need no company on their shard, and spreading projects over the shards is the point. A
    failover fails the batch with PublishError; the relay retries it and the cluster client
    finds the promoted replica (duplicates are dropped by position downstream).
    """

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self._redis = redisurl.connect(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    async def publish_batch(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        try:
            for start in range(0, len(messages), SCRIPT_CHUNK):
                pipe = self._redis.pipeline()
                for channel, data in messages[start : start + SCRIPT_CHUNK]:
                    pipe.execute_command("SPUBLISH", channel, data)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise PublishError(f"redis cluster: {exc!r}") from None

    async def close(self) -> None:
        await self._redis.aclose()


def redis_publisher(url: str) -> Publisher:
    """The relay's publisher for REDIS_URL: SPUBLISH on a cluster, PUBLISH on one Redis."""
    return ShardedPublisher(url) if redisurl.is_cluster(url) else RedisPublisher(url)


class Subscription:
    """One in-process subscriber: an async iterator of (channel, data), bounded."""

    def __init__(self, hub: MemoryHub, channels: frozenset[str], maxsize: int) -> None:
        self.channels = channels
        self._hub = hub
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self._closed = False

    def _offer(self, message: Message) -> None:
        # A subscriber that falls this far behind is cut off, not buffered without limit.
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub._remove(self)
        # Wakes a reader blocked on an empty queue; a full queue is drained first, then ends.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float) -> Message:
        """The next message, or TimeoutError."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MemoryHub:
    """In-process pub/sub: a PublishTarget that in-process code can subscribe to."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, *channels: str, maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, frozenset(channels), maxsize)
        for channel in channels:
            self._subscribers[channel].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()

    async def publish(self, channel: str, data: bytes, /) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription._offer((channel, data))

    def _remove(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            members = self._subscribers.get(channel)
            if members is not None:
                members.discard(subscription)
                if not members:
                    del self._subscribers[channel]


class InMemoryPublisher(Publisher):
    """The embedded default: hands each message, in order, to an in-process target."""

    def __init__(self, target: PublishTarget | None = None) -> None:
        self.target: PublishTarget = MemoryHub() if target is None else target

    async def publish_batch(self, messages: Sequence[Message]) -> None:
        for channel, data in messages:
            await self.target.publish(channel, data)


def make_publisher(redis_url: str | None, target: PublishTarget | None = None) -> Publisher:
    """Redis when REDIS_URL is set, else the in-process twin (optionally into `target`)."""
    return redis_publisher(redis_url) if redis_url else InMemoryPublisher(target)
