"""Backfill of a user's inbox channel (`notifications:<uuid>`), for gateway resume and repair.

The inbox read model is the inbox relay's outbox (relay.py), so it is also what a resuming client
is replayed from: the user's notifications after a position, built by the relay's own
`envelope_of` with the relay's `prev` (`previous_query`), so a backfilled notification is
byte-for-byte what was (or will be) published. Every row visible here is final: the projection
commits its rows with its checkpoint, and the relay publishes nothing past that checkpoint.
Served by `GET /internal/backfill?scope=notifications:<uuid>` (bound in app/readmodels.py); the
gateway lets only the channel's own user resume it (realtime/session.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kernel.db import scope_to_tenant, snapshot
from app.notifications.relay import envelope_of, previous_query
from app.notifications.tables import notification
from app.relay.backfill import BackfillQuery

KIND = "notifications"


async def inbox_backfill(engine: AsyncEngine, prefix: str, q: BackfillQuery) -> dict[str, Any]:
    """`{"events": [...], "complete": bool}`: the user's notifications after `q.after`."""
    n = notification
    query = (
        sa.select(n)
        .where(n.c.tenant_id == q.tenant, n.c.user_id == q.key, n.c.position > q.after)
        .order_by(n.c.position)
        .limit(q.limit + 1)
    )
    prev: int | None = None
    async with snapshot(engine) as conn:
        await scope_to_tenant(conn, q.tenant)
        rows = (await conn.execute(query)).all()
        if rows:
            found = await conn.scalar(previous_query(q.tenant, q.key, int(rows[0].position)))
            prev = None if found is None else int(found)
    complete = len(rows) <= q.limit
    events = []
    for row in rows[: q.limit]:
        events.append(envelope_of(row, prev, prefix).to_dict())
        prev = int(row.position)
    return {"events": events, "complete": complete}
