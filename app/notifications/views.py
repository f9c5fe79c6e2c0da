"""Inbox queries: the caller's notifications, newest first, and how many are unread."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.domain import Actor
from app.notifications.errors import NotificationNotFoundError
from app.notifications.tables import notification
from app.readside.projector import read_checkpoints

READS = ("notifications",)


def _mine(actor: Actor) -> list[Any]:
    return [notification.c.tenant_id == actor.tenant_id, notification.c.user_id == actor.user_id]


async def _as_of(connection: AsyncConnection) -> int:
    return min((await read_checkpoints(connection, READS)).values())


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.position),
        "type": row.type,
        "occurred_at": row.occurred_at.isoformat(),
        "actor_id": row.actor_id,
        "project_id": row.project_id,
        "task_id": row.task_id,
        "text": row.text,
        "read": row.read_at is not None,
    }


async def unread_count(connection: AsyncConnection, actor: Actor) -> int:
    query = sa.select(sa.func.count()).where(*_mine(actor), notification.c.read_at.is_(None))
    return int(await connection.scalar(query) or 0)


async def inbox(
    connection: AsyncConnection,
    actor: Actor,
    *,
    before: int | None = None,
    limit: int = 20,
    unread_only: bool = False,
) -> dict[str, Any]:
    """A page of the caller's notifications, newest first; the next page starts `before` the
    last id of this one (`next_before`, null on the last page)."""
    query = sa.select(notification).where(*_mine(actor))
    if before is not None:
        query = query.where(notification.c.position < before)
    if unread_only:
        query = query.where(notification.c.read_at.is_(None))
    rows = (
        await connection.execute(query.order_by(notification.c.position.desc()).limit(limit + 1))
    ).all()
    items = [_item(r) for r in rows[:limit]]
    return {
        "items": items,
        "next_before": items[-1]["id"] if len(rows) > limit else None,
        "unread": await unread_count(connection, actor),
        "as_of_position": await _as_of(connection),
    }


async def unread(connection: AsyncConnection, actor: Actor) -> dict[str, Any]:
    return {
        "unread": await unread_count(connection, actor),
        "as_of_position": await _as_of(connection),
    }


async def require_mine(connection: AsyncConnection, actor: Actor, notification_id: int) -> None:
    """Refuse an id that is not one of the caller's notifications (someone else's included)."""
    query = sa.select(notification.c.position).where(
        *_mine(actor), notification.c.position == notification_id
    )
    if await connection.scalar(query) is None:
        raise NotificationNotFoundError(
            f"no notification {notification_id}", notification=notification_id
        )


async def newest(connection: AsyncConnection, actor: Actor) -> int:
    """The newest notification of the caller's the read model holds (0: none)."""
    query = sa.select(sa.func.max(notification.c.position)).where(*_mine(actor))
    return int(await connection.scalar(query) or 0)
