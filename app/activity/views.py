"""Activity feed queries: a project's and a tenant's entries, newest first, as sentences."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.activity.tables import activity_entry, activity_lookup
from app.activity.texts import item_of
from app.kernel.domain import Actor, InvalidInputError
from app.projects import api as projects
from app.readside.projector import read_checkpoints

READS = ("activity",)
MAX_LIMIT = 100

# Entries with their task's current title. A task is edited far more often than anything else
# is renamed, so its title is looked up here (one lookup row per task) instead of rewritten in
# every entry of the task at each edit; the entry's own copy (the title when it was written)
# stands in for a task the lookup does not know.
_title = activity_lookup.alias("current_title")
_ENTRIES = sa.select(
    *(c for c in activity_entry.c if c.name != "task_title"),
    sa.func.coalesce(_title.c.name, activity_entry.c.task_title).label("task_title"),
).select_from(
    activity_entry.outerjoin(
        _title,
        sa.and_(
            _title.c.kind == "task",
            _title.c.ref_id == activity_entry.c.task_id,
            _title.c.tenant_id == activity_entry.c.tenant_id,
        ),
    )
)


def _item(row: Any) -> dict[str, Any]:
    return item_of(dict(row._mapping))


def _page(before: int | None, limit: int) -> int:
    if before is not None and before < 1:
        raise InvalidInputError("before must be a positive position", field="before")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


async def recent(
    connection: AsyncConnection, tenant_id: str, project_id: str, limit: int = 20
) -> list[dict[str, Any]]:
    """A project's newest entries; the caller has checked access already."""
    rows = await connection.execute(
        _ENTRIES.where(
            activity_entry.c.tenant_id == tenant_id, activity_entry.c.project_id == project_id
        )
        .order_by(activity_entry.c.position.desc())
        .limit(limit)
    )
    return [_item(r) for r in rows]


async def _feed(
    connection: AsyncConnection, where: list[Any], before: int | None, limit: int
) -> dict[str, Any]:
    query = _ENTRIES.where(*where)
    if before is not None:
        query = query.where(activity_entry.c.position < before)
    rows = (
        await connection.execute(query.order_by(activity_entry.c.position.desc()).limit(limit + 1))
    ).all()
    items = [_item(r) for r in rows[:limit]]
    return {
        "items": items,
        "next_before": items[-1]["position"] if len(rows) > limit else None,
        "as_of_position": min((await read_checkpoints(connection, READS)).values()),
    }


async def project_activity(
    connection: AsyncConnection,
    actor: Actor,
    project_id: str,
    *,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """A readable project's feed, newest first; page on with `before=next_before`."""
    limit = _page(before, limit)
    await projects.require_readable(connection, actor, project_id)
    where = [
        activity_entry.c.tenant_id == actor.tenant_id,
        activity_entry.c.project_id == project_id,
    ]
    return await _feed(connection, where, before, limit)


async def tenant_activity(
    connection: AsyncConnection, actor: Actor, *, before: int | None = None, limit: int = 50
) -> dict[str, Any]:
    """The tenant's feed: admins see all of it; members see the tenant-wide entries and their
    own projects' entries."""
    limit = _page(before, limit)
    where: list[Any] = [activity_entry.c.tenant_id == actor.tenant_id]
    if not actor.is_admin:
        mine = projects.member_project_ids(actor.tenant_id, actor.user_id)
        where.append(
            sa.or_(activity_entry.c.project_id.is_(None), activity_entry.c.project_id.in_(mine))
        )
    return await _feed(connection, where, before, limit)
