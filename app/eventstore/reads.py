"""Reads of the event table through SQLAlchemy on PostgreSQL: tailing by position and the head.

The relay, the backfill and tools read the store here; commands write through the lean asyncpg
path (app.eventstore.postgres). Appends there are serialised by the row lock of the one-row
`event_head` counter and allocate positions under it, so commit order equals position order and
positions have no holes: a reader tailing `position > checkpoint` can never miss an event that
commits late with a lower position (DESIGN.md, "Global position is the spine").
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.eventstore.port import StoredEvent
from app.kernel.db import event as event_table

NOTIFY_CHANNEL = "collabspace_events"


def to_stored(row: Any) -> StoredEvent:
    return StoredEvent(
        position=row.position,
        stream_id=row.stream_id,
        version=row.version,
        tenant_id=str(row.tenant_id),
        project_id=None if row.project_id is None else str(row.project_id),
        type=row.type,
        schema_version=row.schema_version,
        data=row.data,
        metadata=row.metadata,
        recorded_at=row.recorded_at,
    )


async def read_after(connection: AsyncConnection, position: int, limit: int) -> list[StoredEvent]:
    query = (
        event_table.select()
        .where(event_table.c.position > position)
        .order_by(event_table.c.position)
        .limit(limit)
    )
    return [to_stored(row) for row in await connection.execute(query)]


async def head_position(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        value = await connection.scalar(
            sa.select(sa.func.coalesce(sa.func.max(event_table.c.position), 0))
        )
    return int(value or 0)
