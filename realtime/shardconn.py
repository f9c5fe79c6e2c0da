"""One connection to one Redis Cluster primary in sharded pub/sub mode (for shards.py).

A bare redis-py `Connection`, not its `PubSub`: asyncio `PubSub.ssubscribe` only exists in
redis-py 8, and the replies needed here are three (`ssubscribe`, `sunsubscribe`, `smessage`).
One task reads; commands are written from the broker's serialised calls. A broken connection,
or a SUNSUBSCRIBE the server sent by itself (the slot left this node), is reported to the
broker through `on_lost`, with the channels that need a new home.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from realtime.broker import SUBSCRIBE_TIMEOUT_S, BrokerError, MessageHandler
from realtime.slots import Address

log = logging.getLogger("realtime.shards")
CONNECT_TIMEOUT_S = 2.0
# (the connection, the channels it lost, why: an exception or a reason)
LostHandler = Callable[["ShardConnection", set[str], object], None]


class ShardConnection:
    """One primary's sharded pub/sub connection and the channels it carries."""

    def __init__(
        self,
        address: Address,
        options: dict[str, Any],
        on_message: MessageHandler,
        on_lost: LostHandler,
    ) -> None:
        self.address = address
        options = dict(options)
        kind = SSLConnection if options.pop("ssl", False) else Connection
        # No retries inside redis-py: a broken connection is handed to the broker, which asks
        # the cluster where the channels went instead of redialling a node that may be gone.
        # No socket timeout: a quiet channel is not a dead node (the slot-map check is).
        self.conn = kind(
            host=address[0],
            port=address[1],
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=None,  # said explicitly: redis-py 8 has a default, 5 has none
            # RESP2, where pushes are plain replies to read (redis-py 8 defaults to RESP3 and
            # routes pushes to a handler instead).
            protocol=2,
            retry=Retry(NoBackoff(), 0),
            **options,
        )
        self.channels: set[str] = set()
        self._on_message, self._on_lost = on_message, on_lost
        self._confirm: defaultdict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._leaving: Counter[str] = Counter()  # our own SUNSUBSCRIBEs not yet confirmed
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.conn.connect()  # type: ignore[no-untyped-call]
        self._reader = asyncio.create_task(self._read(), name=f"shard-{self.address[1]}")

    async def subscribe(self, channel: str) -> None:
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[channel].append(confirmed)
        try:
            await self.conn.send_command("SSUBSCRIBE", channel, check_health=False)
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await confirmed
        finally:
            waiting = self._confirm.get(channel, [])
            if confirmed in waiting:
                waiting.remove(confirmed)
            if not waiting:
                self._confirm.pop(channel, None)
        self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self._leaving[channel] += 1
        await self.conn.send_command("SUNSUBSCRIBE", channel, check_health=False)

    async def _read(self) -> None:
        while True:
            try:
                reply = await self.conn.read_response(timeout=None)
            except ResponseError as exc:
                # An error reply (e.g. MOVED: the map was stale) answers the pending subscribe;
                # subscriptions change one at a time, so it is the one waiting.
                self._fail(exc)
                continue
            except (RedisError, OSError) as exc:
                self._on_lost(self, set(self.channels), exc)
                self._fail(exc)
                return
            if isinstance(reply, list) and len(reply) == 3:
                self._on_push(_text(reply[0]), _text(reply[1]), reply[2])

    def _on_push(self, kind: str, channel: str, data: Any) -> None:
        if kind == "smessage":
            try:
                self._on_message(channel, data)
            except Exception:  # one bad message must not kill the shard's reader
                log.exception("message handler failed")
        elif kind == "ssubscribe":
            for fut in self._confirm.get(channel, ()):
                if not fut.done():
                    fut.set_result(None)
        elif kind == "sunsubscribe":
            if self._leaving[channel] > 0:
                self._leaving[channel] -= 1
                if not self._leaving[channel]:
                    del self._leaving[channel]
            elif channel in self.channels:  # the server's: the slot left this node
                self.channels.discard(channel)
                self._on_lost(self, {channel}, "slot moved")

    def _fail(self, exc: BaseException) -> None:
        for waiting in self._confirm.values():
            for fut in waiting:
                if not fut.done():
                    fut.set_exception(BrokerError(f"shard {self.address}: {exc!r}"))

    async def close(self) -> None:
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.conn.disconnect()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
