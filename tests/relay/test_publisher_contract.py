"""The Publisher contract, run against the in-memory twin and the real Redis adapter."""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.relay.publisher import (
    SCRIPT_CHUNK,
    InMemoryPublisher,
    MemoryHub,
    Message,
    Publisher,
    PublishError,
    RedisPublisher,
    make_publisher,
)
from tests.relay.relay_support import (
    REDIS_URL,
    TIMEOUT,
    RedisServer,
    eventually,
)


class PublisherContract(abc.ABC):
    """What every Publisher promises; subclasses supply the adapter and a way to listen."""

    @abc.abstractmethod
    def listening(
        self, publisher: Publisher, channels: list[str]
    ) -> contextlib.AbstractAsyncContextManager[list[Message]]: ...

    async def test_a_batch_larger_than_a_script_chunk_keeps_its_order(
        self, publisher: Publisher, prefix: str
    ) -> None:
        channel = f"{prefix}:big"
        batch = [(channel, b"%d" % i) for i in range(SCRIPT_CHUNK + 500)]
        async with self.listening(publisher, [channel]) as received:
            await publisher.publish_batch(batch)
            await eventually(lambda: len(received) == len(batch), 5 * TIMEOUT, "all messages")
        assert received == batch

    async def test_a_batch_arrives_in_order_on_every_channel(
        self, publisher: Publisher, prefix: str
    ) -> None:
        a, b = f"{prefix}:a", f"{prefix}:b"
        batch = [(a if i % 3 else b, f"m{i}".encode()) for i in range(300)]
        async with self.listening(publisher, [a, b]) as received:
            await publisher.publish_batch(batch)
            await eventually(lambda: len(received) == 300, 5 * TIMEOUT, "300 messages")
        for channel in (a, b):
            assert [m for m in received if m[0] == channel] == [m for m in batch if m[0] == channel]

    async def test_consecutive_batches_keep_their_order(
        self, publisher: Publisher, prefix: str
    ) -> None:
        channel = f"{prefix}:c"
        async with self.listening(publisher, [channel]) as received:
            for start in range(0, 50, 10):
                await publisher.publish_batch(
                    [(channel, b"%d" % i) for i in range(start, start + 10)]
                )
            await eventually(lambda: len(received) == 50, 5 * TIMEOUT, "50 messages")
        assert [int(data) for _, data in received] == list(range(50))

    async def test_an_empty_batch_or_a_channel_nobody_hears_is_fine(
        self, publisher: Publisher, prefix: str
    ) -> None:
        await publisher.publish_batch([])
        await publisher.publish_batch([(f"{prefix}:nobody", b"x")])


class TestInMemoryPublisher(PublisherContract):
    @pytest.fixture
    def publisher(self) -> InMemoryPublisher:
        return InMemoryPublisher()

    @contextlib.asynccontextmanager
    async def listening(
        self, publisher: Publisher, channels: list[str]
    ) -> AsyncIterator[list[Message]]:
        assert isinstance(publisher, InMemoryPublisher)
        hub = publisher.target
        assert isinstance(hub, MemoryHub)
        received: list[Message] = []
        with_sub = hub.subscribe(*channels)

        async def pump() -> None:
            async for message in with_sub:
                received.append(message)

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            with_sub.close()
            await task

    async def test_it_forwards_to_any_target_with_a_publish_method(self) -> None:
        class GatewayBroker:
            def __init__(self) -> None:
                self.got: list[tuple[str, bytes]] = []

            async def publish(self, channel: str, data: bytes) -> None:
                self.got.append((channel, data))

        broker = GatewayBroker()
        await InMemoryPublisher(broker).publish_batch([("x", b"1"), ("y", b"2")])
        assert broker.got == [("x", b"1"), ("y", b"2")]

    async def test_a_subscriber_that_falls_too_far_behind_is_cut_off(self) -> None:
        hub = MemoryHub()
        sub = hub.subscribe("c", maxsize=2)
        await InMemoryPublisher(hub).publish_batch([("c", b"1"), ("c", b"2"), ("c", b"3")])
        assert sub.overflowed
        assert [m async for m in sub] == [("c", b"1"), ("c", b"2")]

    def test_without_a_redis_url_the_embedded_publisher_is_chosen(self) -> None:
        assert isinstance(make_publisher(None), InMemoryPublisher)


class TestRedisPublisher(PublisherContract):
    @pytest.fixture(params=["script", "pipeline"])
    async def publisher(
        self, redis_url: str, request: pytest.FixtureRequest
    ) -> AsyncIterator[Publisher]:
        publisher = RedisPublisher(redis_url, mode=request.param)
        yield publisher
        await publisher.close()

    @contextlib.asynccontextmanager
    async def listening(
        self, publisher: Publisher, channels: list[str]
    ) -> AsyncIterator[list[Message]]:
        client = aioredis.Redis.from_url(REDIS_URL)
        pubsub = client.pubsub()
        await pubsub.subscribe(*channels)
        confirmed = 0
        while confirmed < len(channels):
            message = await pubsub.get_message(timeout=5 * TIMEOUT)
            confirmed += message is not None and message["type"] == "subscribe"
        received: list[Message] = []

        async def pump() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    received.append((message["channel"].decode(), message["data"]))

        task = asyncio.create_task(pump())
        try:
            yield received
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pubsub.aclose()
            await client.aclose()

    @pytest.mark.parametrize("mode", ["script", "pipeline"])
    async def test_a_dead_redis_raises_publish_error_and_a_live_one_recovers(
        self, redis_server: RedisServer, mode: str
    ) -> None:
        publisher = RedisPublisher(redis_server.url, timeout=TIMEOUT, mode=mode)
        try:
            await publisher.publish_batch([("x", b"1")])
            redis_server.stop()
            with pytest.raises(PublishError):
                await publisher.publish_batch([("x", b"2")])
            await redis_server.start()
            await publisher.publish_batch([("x", b"3")])
        finally:
            await publisher.close()
