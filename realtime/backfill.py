"""The backfill port: missed events of one channel, from the event store through the API.

The gateway never queries PostgreSQL (STYLE 6). A `Fetch` returns a `Page` of envelopes after a
position, in position order with the relay's `prev`, and whether the range is complete.
`HttpBackfill` calls the API's `GET /internal/backfill` with a service token it mints with the
shared SECRET_KEY; the embedded gateway is given a direct function instead (app/runtime.py).

`Coalescer` makes reconnect storms cheap: requests for one (tenant, scope) that wait for a fetch
slot are served by ONE fetch from the lowest position among them, and at most
`max_concurrent` fetches run at once on a node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import orjson

from realtime.envelope import Envelope, EnvelopeError, decode


class BackfillUnavailableError(Exception):
    """The API could not answer (down, timeout, bad reply)."""


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Envelope]
    complete: bool

    def after(self, position: int) -> Page:
        return Page([e for e in self.events if e.position > position], self.complete)


# (tenant, scope, after, limit) -> Page; scope is "tenant", "project:<uuid>" or "access".
Fetch = Callable[[str, str, int, int], Awaitable[Page]]


def page_from_json(body: dict[str, Any]) -> Page:
    try:
        events = [decode(orjson.dumps(obj)) for obj in body["events"]]
        complete = body["complete"]
    except (KeyError, TypeError, EnvelopeError) as exc:
        raise BackfillUnavailableError(f"bad backfill reply: {exc!r}") from None
    if not isinstance(complete, bool):
        raise BackfillUnavailableError("bad backfill reply: complete")
    return Page(events, complete)


class HttpBackfill:
    """`GET {api_url}/internal/backfill` with a short-lived service token."""

    TOKEN_TTL_S = 120

    def __init__(self, api_url: str, secret: str, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), timeout=timeout, limits=httpx.Limits(max_connections=32)
        )
        self._secret = secret
        self._token = ""
        self._token_expires = 0.0

    def _bearer(self) -> str:
        now = time.time()
        if now > self._token_expires - 30:
            self._token = jwt.encode(
                {
                    "typ": "service",
                    "sub": "gateway",
                    "iat": int(now),
                    "exp": int(now) + self.TOKEN_TTL_S,
                },
                self._secret,
                algorithm="HS256",
            )
            self._token_expires = now + self.TOKEN_TTL_S
        return self._token

    async def __call__(self, tenant: str, scope: str, after: int, limit: int) -> Page:
        params = {"tenant": tenant, "scope": scope, "after": str(after), "limit": str(limit)}
        try:
            response = await self._client.get(
                "/internal/backfill",
                params=params,
                headers={"Authorization": f"Bearer {self._bearer()}"},
            )
        except httpx.HTTPError as exc:
            raise BackfillUnavailableError(repr(exc)) from None
        if response.status_code != 200:
            raise BackfillUnavailableError(f"backfill answered {response.status_code}")
        return page_from_json(orjson.loads(response.content))

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class _Batch:
    requests: list[tuple[int, asyncio.Future[Page]]] = field(default_factory=list)


class Coalescer:
    def __init__(
        self,
        fetch: Fetch,
        *,
        limit: int,
        max_concurrent: int,
        on_fetch: Callable[[], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self._on_fetch = on_fetch
        self.limit = limit
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting: dict[tuple[str, str], _Batch] = {}
        self.fetches = 0

    async def get(self, tenant: str, scope: str, after: int) -> Page:
        """Events of the scope after `after`; raises BackfillUnavailableError."""
        key = (tenant, scope)
        batch = self._waiting.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch()
            asyncio.get_running_loop().create_task(self._run(key, batch))
        future: asyncio.Future[Page] = asyncio.get_running_loop().create_future()
        batch.requests.append((after, future))
        return await future

    async def _run(self, key: tuple[str, str], batch: _Batch) -> None:
        async with self._slots:
            # From here on, new requests start a new batch: this one's range is fixed.
            if self._waiting.get(key) is batch:
                del self._waiting[key]
            lowest = min(after for after, _ in batch.requests)
            self.fetches += 1
            if self._on_fetch is not None:
                self._on_fetch()
            try:
                page = await self._fetch(key[0], key[1], lowest, self.limit)
            except BaseException as exc:
                error = (
                    exc
                    if isinstance(exc, BackfillUnavailableError)
                    else BackfillUnavailableError(repr(exc))
                )
                for _, future in batch.requests:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(exc, Exception):
                    raise
                return
        for after, future in batch.requests:
            if not future.done():
                future.set_result(page.after(after))
