"""The broker port: pub/sub between the relay and the gateway nodes.

Like `broadcaster`: one interface, a Redis adapter for deployments and an in-memory twin for the
embedded default (API and gateway in one process) and for tests. The gateway calls `start` once
with its message handler, then `subscribe`/`unsubscribe` as channels gain their first and lose
their last local member. The API (relay) side only calls `publish`. Whoever creates a broker
closes it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("realtime.broker")

# Called for every message on a subscribed channel, in the order the broker delivered them.
MessageHandler = Callable[[str, bytes], None]
SUBSCRIBE_TIMEOUT_S = 5.0


class BrokerError(Exception):
    """The broker could not perform a subscription change."""


class Broker(ABC):
    @abstractmethod
    async def start(self, handler: MessageHandler) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Return once the broker confirms: messages published afterwards reach the handler."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    async def subscribe_many(self, channels: Sequence[str]) -> list[BrokerError | None]:
        """Subscribe several channels at once: per channel, None once the broker confirms it
        (as `subscribe`) or the BrokerError that refused it. The fan-out batches the channels
        that gain their first local member meanwhile (a connect storm) into one call; this
        default asks for each concurrently, adapters that can send one command do."""
        results = await asyncio.gather(
            *(self.subscribe(channel) for channel in channels), return_exceptions=True
        )
        return [_broker_error(result) for result in results]

    async def unsubscribe_many(self, channels: Sequence[str]) -> None:
        """Unsubscribe several channels at once; raises the first BrokerError after trying all."""
        results = await asyncio.gather(
            *(self.unsubscribe(channel) for channel in channels), return_exceptions=True
        )
        for error in [_broker_error(result) for result in results]:
            if error is not None:
                raise error

    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


def _broker_error(result: object) -> BrokerError | None:
    if isinstance(result, BrokerError):
        return result
    if isinstance(result, BaseException):  # not the broker's refusal: a bug, or cancellation
        raise result
    return None


class MemoryBroker(Broker):
    """In-process pub/sub for one gateway: `publish` hands bytes to the gateway synchronously."""

    def __init__(self) -> None:
        self._handler: MessageHandler | None = None
        self._channels: set[str] = set()

    async def start(self, handler: MessageHandler) -> None:
        self._handler = handler

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, data: bytes) -> None:
        if self._handler is not None and channel in self._channels:
            try:
                self._handler(channel, data)
            except Exception:  # a gateway bug must not fail the publisher's command
                log.exception("message handler failed on %s", channel)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def close(self) -> None:
        self._handler = None
        self._channels.clear()


class RedisBroker(Broker):
    """Redis pub/sub with ONE subscriber connection per process, read by one task."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._handler: MessageHandler | None = None
        self._confirm: defaultdict[str, list[asyncio.Future[None]]] = defaultdict(list)

    async def start(self, handler: MessageHandler) -> None:
        self._handler = handler
        self._redis = aioredis.from_url(self._url)
        await self._redis.ping()  # fail at start-up, not at the first subscribe
        self._pubsub = self._redis.pubsub()
        await self._pubsub.connect()  # type: ignore[no-untyped-call]
        self._reader = asyncio.create_task(self._read(), name="redis-subscriber")

    async def subscribe(self, channel: str) -> None:
        (error,) = await self.subscribe_many([channel])
        if error is not None:
            raise error

    async def subscribe_many(self, channels: Sequence[str]) -> list[BrokerError | None]:
        """ONE `SUBSCRIBE` for all of them; each is confirmed by its own reply, read by the
        subscriber task (so its messages published afterwards reach the handler)."""
        assert self._pubsub is not None, "start() first"
        loop = asyncio.get_running_loop()
        confirmations: list[asyncio.Future[None]] = []
        for channel in channels:
            confirmed: asyncio.Future[None] = loop.create_future()
            self._confirm[channel].append(confirmed)
            confirmations.append(confirmed)
        try:
            try:
                await self._pubsub.subscribe(*channels)
            except (RedisError, OSError) as exc:
                return [BrokerError(f"subscribe {c}: {exc!r}") for c in channels]
            await asyncio.wait(confirmations, timeout=SUBSCRIBE_TIMEOUT_S)
            return [
                None if confirmed.done() else BrokerError(f"subscribe {c}: not confirmed")
                for c, confirmed in zip(channels, confirmations, strict=True)
            ]
        finally:
            for channel, confirmed in zip(channels, confirmations, strict=True):
                waiting = self._confirm.get(channel)
                if waiting is not None and confirmed in waiting:
                    waiting.remove(confirmed)
                if not waiting:
                    self._confirm.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        await self.unsubscribe_many([channel])

    async def unsubscribe_many(self, channels: Sequence[str]) -> None:
        assert self._pubsub is not None, "start() first"
        try:
            await self._pubsub.unsubscribe(*channels)
        except (RedisError, OSError) as exc:
            raise BrokerError(f"unsubscribe {', '.join(channels)}: {exc!r}") from None

    async def publish(self, channel: str, data: bytes) -> None:
        assert self._redis is not None, "start() first"
        await self._redis.publish(channel, data)

    async def _read(self) -> None:
        assert self._pubsub is not None and self._handler is not None
        pubsub, handler, backoff = self._pubsub, self._handler, 0.1
        while True:
            try:
                msg = await pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                # redis-py reconnects and resubscribes on the next read; what was published in
                # between is lost here; gateways repair the gap from the event store (repair.py).
                log.warning("redis subscriber error, retrying in %.1fs: %r", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if msg is None:
                continue
            kind = msg["type"]
            if kind == "message":
                try:
                    handler(msg["channel"].decode(), msg["data"])
                except Exception:  # one bad message must not kill the only subscriber
                    log.exception("message handler failed")
            elif kind == "subscribe":
                for fut in self._confirm.get(msg["channel"].decode(), ()):
                    if not fut.done():
                        fut.set_result(None)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
