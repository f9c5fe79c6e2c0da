"""Login throttling per account and per client address (fixed windows).

`LoginThrottle` counts in process: with N API replicas (or `--workers N`) an attacker could
spread guesses over them and get N times the budget. With REDIS_URL set, `SharedLoginThrottle`
counts in Redis, so every replica shares one budget. If Redis fails it falls back to counting
in process, so logins keep working and stay throttled per replica.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from typing import Protocol

from redis.exceptions import RedisError

from app.kernel.clock import Clock, utc_now
from realtime import redisurl

log = logging.getLogger("collabspace.login")

# Bounded so that a flood of distinct keys cannot grow memory without limit.
MAX_KEYS = 50_000
PER_ACCOUNT, PER_ADDRESS, WINDOW_S = 5, 30, 300.0
# After a Redis failure, logins count in process for this long before Redis is tried again:
# an unreachable Redis costs one timeout per interval, not several per login.
RETRY_REDIS_S = 5.0
# One failure on one key: count it, and start the key's window with its first failure.
_COUNT_FAILURE = "redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')"


class Throttle(Protocol):
    async def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before another attempt is allowed (0: go ahead)."""

    async def failed(self, account: str, address: str) -> None: ...

    async def succeeded(self, account: str) -> None: ...

    async def close(self) -> None: ...


class LoginThrottle:
    def __init__(
        self,
        *,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window_s: float = WINDOW_S,
        clock: Clock = utc_now,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = window_s
        self._clock = clock
        self._hits: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    async def retry_after(self, account: str, address: str) -> int:
        now = self._clock().timestamp()
        waits = []
        for kind, key in (("account", account), ("address", address)):
            start, count = self._hits.get((kind, key), (now, 0))
            if now - start < self._window and count >= self._limits[kind]:
                waits.append(math.ceil(self._window - (now - start)))
        return max(waits, default=0)

    async def failed(self, account: str, address: str) -> None:
        now = self._clock().timestamp()
        for kind, key in (("account", account), ("address", address)):
            start, count = self._hits.pop((kind, key), (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            self._hits[(kind, key)] = (start, count + 1)
        while len(self._hits) > MAX_KEYS:
            self._hits.popitem(last=False)

    async def succeeded(self, account: str) -> None:
        self._hits.pop(("account", account), None)

    async def close(self) -> None:
        return None


class SharedLoginThrottle:
    """The same limits and windows, counted in Redis: one budget across all replicas.

    A window starts at its first failure (INCR, then EXPIRE NX in one script) and the key
    expires with it, so Redis holds nothing for accounts that stopped failing. Keys hold a hash
    of the e-mail or address, never the value itself.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window_s: float = WINDOW_S,
        fallback: LoginThrottle,
    ) -> None:
        # Short timeouts: a login waits on Redis at most this long before the fallback counts.
        self._redis = redisurl.connect(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = f"{prefix}:login"
        self._limits = {"account": per_account, "address": per_address}
        self._window = math.ceil(window_s)
        self._fallback = fallback
        self._healthy = True
        self._retry_at = 0.0

    def _keys(self, account: str, address: str) -> dict[str, str]:
        return {
            kind: f"{self._prefix}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"
            for kind, value in (("account", account), ("address", address))
        }

    def _usable(self) -> bool:
        return self._healthy or time.monotonic() >= self._retry_at

    def _health(self, healthy: bool, error: Exception | None = None) -> None:
        if not healthy:
            self._retry_at = time.monotonic() + RETRY_REDIS_S
        # Logged once per change, not per login.
        if healthy != self._healthy:
            self._healthy = healthy
            if healthy:
                log.info("login throttle: Redis is back; counting shared again")
            else:
                log.warning("login throttle: Redis failed (%r); counting per process", error)

    async def retry_after(self, account: str, address: str) -> int:
        if not self._usable():
            return await self._fallback.retry_after(account, address)
        keys = self._keys(account, address)
        pipe = self._redis.pipeline(transaction=False)
        for key in keys.values():
            pipe.get(key)
            pipe.pttl(key)
        try:
            found = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._health(False, exc)
            return await self._fallback.retry_after(account, address)
        self._health(True)
        waits = []
        for i, kind in enumerate(keys):
            count, pttl = found[2 * i], found[2 * i + 1]
            if count is not None and int(count) >= self._limits[kind] and pttl > 0:
                waits.append(math.ceil(pttl / 1000))
        return max(waits, default=0)

    async def failed(self, account: str, address: str) -> None:
        if not self._usable():
            return await self._fallback.failed(account, address)
        # Each key counts in its own window, atomically (INCR then EXPIRE NX in one script); the
        # two keys need nothing from each other, so they take no hash tag and on a Redis Cluster
        # live wherever their hashes fall (a MULTI over both would be refused as cross-slot).
        try:
            for key in self._keys(account, address).values():
                await self._redis.execute_command("EVAL", _COUNT_FAILURE, 1, key, self._window)
        except (RedisError, OSError) as exc:
            self._health(False, exc)
            await self._fallback.failed(account, address)

    async def succeeded(self, account: str) -> None:
        await self._fallback.succeeded(account)
        if not self._usable():
            return
        try:
            await self._redis.delete(self._keys(account, "")["account"])
        except (RedisError, OSError) as exc:
            self._health(False, exc)

    async def close(self) -> None:
        await self._redis.aclose()


def login_throttle(redis_url: str | None, prefix: str, clock: Clock = utc_now) -> Throttle:
    """Shared through Redis when there is one; in process otherwise (the embedded default)."""
    local = LoginThrottle(clock=clock)
    if redis_url is None:
        return local
    return SharedLoginThrottle(redis_url, prefix, fallback=local)
