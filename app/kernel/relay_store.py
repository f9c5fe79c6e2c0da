"""What the relay reads and writes in the database: the tail of the store and its checkpoint.

Works on PostgreSQL and SQLite alike. Each call takes a pooled connection for one short
statement, so a relay waiting on Redis never sits idle inside a transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kernel.db import event as event_table
from app.kernel.db import relay_checkpoint
from app.kernel.eventstore import StoredEvent
from app.kernel.sqlstore import read_after
from realtime.envelope import ACCESS_EVENT_TYPES

# What a channel is about: ("tenant", tenant, None) | ("project", tenant, project)
# | ("user", tenant, user). Enough to find the channel's previous event in the store.
Scope = tuple[str, str, str | None]


class RelayStore:
    def __init__(self, engine: AsyncEngine, name: str = "main") -> None:
        self._engine = engine
        self.name = name

    async def checkpoint(self) -> int:
        """The last published position (0 before the first publish); creates the row if needed."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                sa.select(relay_checkpoint.c.position).where(relay_checkpoint.c.name == self.name)
            )
        return int(value or 0)

    async def save_checkpoint(self, position: int, now: datetime) -> None:
        """Move the checkpoint forward, never back: a deposed leader cannot rewind it."""
        table = relay_checkpoint
        async with self._engine.begin() as conn:
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
        async with self._engine.connect() as conn:
            return await read_after(conn, position, limit)

    async def head(self) -> int:
        async with self._engine.connect() as conn:
            value = await conn.scalar(sa.select(sa.func.max(event_table.c.position)))
        return int(value or 0)

    async def previous_on(self, scope: Scope, before: int) -> int | None:
        """The position of the last event before `before` that went out on the scope's channel."""
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
        async with self._engine.connect() as conn:
            value = await conn.scalar(query)
        return None if value is None else int(value)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value is not None else None
