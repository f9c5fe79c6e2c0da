"""Single-use tickets: a ticket's `jti` is claimed by the first connection that presents it.

docs/client.md promises that a ticket works once: a leaked or logged ticket must not open more
connections. Verification stays local (HS256, auth.py); only the claim is shared. With Redis,
every node claims in the same place, for the ticket's remaining lifetime:
`SET <prefix>:ticket:<jti> 1 NX EX <ttl>`. The embedded default (one process, no Redis) keeps
an in-process set with the same lifetime. A claim that cannot be made (Redis down or slow)
raises `TicketStoreError`: the gateway refuses the connection with 1013 (try again later) rather
than admit a ticket it cannot prove unused.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from abc import ABC, abstractmethod

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from realtime import redisurl
from realtime.auth import LEEWAY_S

# A claim is one SET (~0.1 ms); the bound covers a queue for a pooled connection in a reconnect
# storm and a Redis that does not answer.
CLAIM_TIMEOUT_S = 5.0
POOL_CONNECTIONS = 16


class TicketStoreError(Exception):
    """The used-ticket store could not answer: the ticket is neither admitted nor refused."""


def _ttl(expires_at: int, now: float) -> int:
    # Remember the jti for as long as verify_ticket would still accept the ticket.
    return max(1, int(expires_at + LEEWAY_S - now) + 1)


class TicketStore(ABC):
    @abstractmethod
    async def claim(self, jti: str, expires_at: int) -> bool:
        """True for the first claim of `jti` while the ticket lives; raises TicketStoreError."""

    async def close(self) -> None:
        return None


class MemoryTicketStore(TicketStore):
    """One process: jti -> expiry, forgotten once the ticket could no longer be verified."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._expiries: list[tuple[float, str]] = []  # heap: the oldest expiry first

    async def claim(self, jti: str, expires_at: int) -> bool:
        now = time.time()
        while self._expiries and self._expiries[0][0] <= now:
            _, old = heapq.heappop(self._expiries)
            self._used.pop(old, None)
        if jti in self._used:
            return False
        until = now + _ttl(expires_at, now)
        self._used[jti] = until
        heapq.heappush(self._expiries, (until, jti))
        return True

    def __len__(self) -> int:
        return len(self._used)


class RedisTicketStore(TicketStore):
    """Shared by every node on the same Redis and key prefix. A claim is one key, so on a
    Redis Cluster tickets spread over the shards by jti and need no hash tag."""

    def __init__(self, url: str, prefix: str) -> None:
        self._pool: aioredis.BlockingConnectionPool | None = None
        self._redis: redisurl.Client
        if redisurl.is_cluster(url):
            # Per node and not waited for: past it a claim fails at once and the client is
            # told 1013 (try again), as when Redis is slow.
            self._redis = redisurl.connect(
                url,
                max_connections=4 * POOL_CONNECTIONS,
                socket_timeout=CLAIM_TIMEOUT_S,
                socket_connect_timeout=CLAIM_TIMEOUT_S,
            )
        else:
            # A few connections, waited for: a storm of thousands of handshakes must not open
            # thousands of Redis connections at once.
            self._pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=POOL_CONNECTIONS,
                timeout=CLAIM_TIMEOUT_S,
                socket_timeout=CLAIM_TIMEOUT_S,
                socket_connect_timeout=CLAIM_TIMEOUT_S,
            )
            self._redis = aioredis.Redis(connection_pool=self._pool)
        self._prefix = prefix
        # One Redis: the claims that arrive while a pipeline is out go together in the next one
        # (a connect storm is then a round trip per batch, not a pooled connection per claim).
        self._batch: list[tuple[str, int, asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def claim(self, jti: str, expires_at: int) -> bool:
        key = f"{self._prefix}:ticket:{jti}"
        ttl = _ttl(expires_at, time.time())
        if self._pool is None:  # a cluster: keys on many shards, one SET each
            return await self._claim_one(key, ttl)
        claimed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.append((key, ttl, claimed))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_batches())
        return await claimed

    async def _claim_one(self, key: str, ttl: int) -> bool:
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT_S):
                first = await self._redis.set(key, b"1", nx=True, ex=ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            raise TicketStoreError(f"ticket store unavailable: {exc!r}") from None
        return bool(first)

    async def _send_batches(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                await self._send(batch)
        finally:
            self._sender = None
            for _, _, claimed in self._batch:  # cancelled (closing): refuse, never admit
                if not claimed.done():
                    claimed.set_exception(TicketStoreError("ticket store closing"))
            self._batch = []

    async def _send(self, batch: list[tuple[str, int, asyncio.Future[bool]]]) -> None:
        """One pipeline of `SET key 1 NX EX ttl`, one per claim: each answers its own claim."""
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT_S):
                pipe = self._redis.pipeline(transaction=False)
                for key, ttl, _ in batch:
                    pipe.set(key, b"1", nx=True, ex=ttl)
                firsts = await pipe.execute()
        except BaseException as exc:
            error = TicketStoreError(f"ticket store unavailable: {exc!r}")
            for _, _, claimed in batch:
                if not claimed.done():
                    claimed.set_exception(error)
            if isinstance(exc, RedisError | OSError | TimeoutError):
                return
            raise
        for (_, _, claimed), first in zip(batch, firsts, strict=True):
            if not claimed.done():
                claimed.set_result(bool(first))

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._redis.aclose()
        if self._pool is not None:
            await self._pool.disconnect()
