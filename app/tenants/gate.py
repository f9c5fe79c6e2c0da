"""Is the caller of an access token still an active user, and with which role?

An access token lives 15 minutes; deactivating a user or lowering their role must not wait for
it to expire. Each request asks this gate, which answers from a small in-process cache and
otherwise reads one row of `tenant_user` by primary key (written in the same transaction as the
user's events, so it is never behind them).

Freshness: a change made through this process is applied to the cache at once (`forget`);
one made through another API replica is seen within `ttl_s` (default 5 s). Cost: a cache hit is
a dict lookup (measured 0.3 µs); a miss is a unit of work with one primary-key SELECT
(measured 2.7 ms on the busy 2-core CI machine), at most once per user per `ttl_s` per replica.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.kernel.tokens import InvalidTokenError
from app.tenants.ports import DirectoryFactory

DEFAULT_TTL_S = 5.0
# Bounded: a flood of distinct (valid) tokens cannot grow memory without limit.
MAX_ENTRIES = 100_000


class ActiveUserGate:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        directory: DirectoryFactory,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self._directory = directory
        self._ttl = ttl_s
        self._now = monotonic
        # (tenant, user) -> (role, or None when inactive/unknown; time it was read)
        self._cache: OrderedDict[tuple[str, str], tuple[str | None, float]] = OrderedDict()
        self.lookups = 0

    async def current(self, actor: Actor) -> Actor:
        """The actor with its current role; a deactivated or unknown user's token is invalid."""
        key = (actor.tenant_id, actor.user_id)
        hit = self._cache.get(key)
        now = self._now()
        if hit is None or now - hit[1] >= self._ttl:
            role = await self._read(actor)
            self._remember(key, role, now)
        else:
            role = hit[0]
        if role is None:
            raise InvalidTokenError("the user is deactivated or no longer exists")
        if role == actor.role:
            return actor
        return Actor(tenant_id=actor.tenant_id, user_id=actor.user_id, role=role)

    def forget(self, tenant_id: str, user_id: str) -> None:
        """A change to this user was committed here: read it again on the next request."""
        self._cache.pop((tenant_id, user_id), None)

    async def _read(self, actor: Actor) -> str | None:
        self.lookups += 1
        async with self._uow_factory() as uow:
            entry = await self._directory(uow).by_id(actor.tenant_id, actor.user_id)
        return entry.role if entry is not None and entry.active else None

    def _remember(self, key: tuple[str, str], role: str | None, now: float) -> None:
        self._cache.pop(key, None)
        self._cache[key] = (role, now)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)
