"""What the relay reads and writes in the database: the tail of the store and its checkpoint.

The relay keeps one connection in autocommit mode: each
read is one round trip (no pool checkout ping, no BEGIN/ROLLBACK), and a relay waiting on Redis
never sits idle inside a transaction. Any error drops the connection; the next call opens a
fresh one.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.eventstore.port import StoredEvent
from app.eventstore.reads import read_after
from app.kernel.db import event as event_table
from app.kernel.db import relay_checkpoint
from realtime.envelope import ACCESS_EVENT_TYPES

# What a channel is about: ("tenant", tenant, None) | ("project", tenant, project)
# | ("user", tenant, user). Enough to find the channel's previous event in the store.
Scope = tuple[str, str, str | None]


class RelayStore:
    def __init__(self, engine: AsyncEngine, name: str = "main") -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self.name = name

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                # Only checkpoint writes commit on this session. Losing the last few to a
                # database crash just republishes them (at least once), so skip the fsync
                # wait that would otherwise sit in every relay cycle.
                await conn.execute(sa.text("SET synchronous_commit TO OFF"))
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        try:
            yield self._conn
        except Exception:
            # The connection may be broken; never hand it back to the pool.
            await self.close(invalidate=True)
            raise

    async def close(self, *, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                if invalidate:
                    await conn.invalidate()
                await conn.close()

    async def checkpoint(self) -> int:
        """The last published position (0 before the first publish)."""
        async with self._connection() as conn:
            value = await conn.scalar(
                sa.select(relay_checkpoint.c.position).where(relay_checkpoint.c.name == self.name)
            )
        return int(value or 0)

    async def save_checkpoint(self, position: int, now: datetime) -> None:
        """Move the checkpoint forward, never back: a deposed leader cannot rewind it."""
        table = relay_checkpoint
        async with self._connection() as conn:
            moved = await conn.execute(
                table.update()
                .where(table.c.name == self.name, table.c.position < position)
                .values(position=position, updated_at=now)
            )
            if moved.rowcount == 0:
                exists = await conn.scalar(sa.select(table.c.name).where(table.c.name == self.name))
                if exists is None:
                    await conn.execute(
                        table.insert().values(name=self.name, position=position, updated_at=now)
                    )

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        async with self._connection() as conn:
            return await read_after(conn, position, limit)

    async def head(self) -> int:
        async with self._connection() as conn:
            value = await conn.scalar(sa.select(sa.func.max(event_table.c.position)))
        return int(value or 0)

    async def previous_on(self, scope: Scope, before: int) -> int | None:
        """The position of the last event before `before` that went out on the scope's channel."""
        async with self._connection() as conn:
            value = await conn.scalar(previous_on_query(scope, before))
        return None if value is None else int(value)


def previous_on_query(scope: Scope, before: int) -> sa.Select[Any]:
    """The last position before `before` on the scope's channel (NULL: none)."""
    kind, tenant, key = scope
    e = event_table
    query = sa.select(sa.func.max(e.c.position)).where(e.c.position < before)
    if kind == "project":
        query = query.where(e.c.project_id == _uuid(key))
    elif kind == "tenant":
        query = query.where(e.c.tenant_id == _uuid(tenant))
    elif kind == "user":
        # No index serves this (it walks the tenant's events backwards), but it only runs on
        # a cache miss: the first access event of a user after a restart.
        query = query.where(
            e.c.tenant_id == _uuid(tenant),
            e.c.type.in_(sorted(ACCESS_EVENT_TYPES)),
            e.c.data["user_id"].as_string() == key,
        )
    else:
        raise ValueError(f"unknown scope {kind!r}")
    return query


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None
