"""Activity feed queries: a project's and a tenant's entries, newest first, as sentences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.activity.tables import activity_entry
from app.kernel.domain import Actor, InvalidInputError
from app.kernel.projections import read_checkpoints
from app.projects import api as projects

READS = ("activity",)
MAX_LIMIT = 100


def _money(cents: Any) -> str:
    return f"{int(cents) / 100:,.2f}"


# The sentence for each entry type, from the entry's current names and its historical detail.
TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "UserRegistered": lambda e: (
        f"{e['user_name']} created the workspace"
        if e["actor_id"] == e["user_id"] or e["actor_id"] is None
        else f"{e['actor_name']} invited {e['user_name']} as {e['detail'].get('role')}"
    ),
    "UserRenamed": lambda e: (
        f"{e['actor_name']} renamed {e['detail'].get('old_name')} to {e['detail'].get('new_name')}"
    ),
    "UserRoleChanged": lambda e: (
        f"{e['actor_name']} made {e['user_name']} {e['detail'].get('role')}"
    ),
    "UserDeactivated": lambda e: f"{e['actor_name']} deactivated {e['user_name']}",
    "ProjectCreated": lambda e: f"{e['actor_name']} created the project {e['project_name']}",
    "ProjectRenamed": lambda e: (
        f"{e['actor_name']} renamed the project {e['detail'].get('old_name')} "
        f"to {e['detail'].get('new_name')}"
    ),
    "ProjectDescribed": lambda e: (
        f"{e['actor_name']} updated the description of {e['project_name']}"
    ),
    "ProjectStatusChanged": lambda e: (
        f"{e['actor_name']} moved {e['project_name']} from {e['detail'].get('from')} "
        f"to {e['detail'].get('to')}"
    ),
    "ProjectBudgetChanged": lambda e: (
        f"{e['actor_name']} set the budget of {e['project_name']} to "
        f"{_money(e['detail'].get('budget_cents', 0))}"
    ),
    "ProjectSpendRecorded": lambda e: (
        f"{e['actor_name']} recorded {_money(e['detail'].get('amount_cents', 0))} "
        f"spent on {e['project_name']}"
        + (f" ({e['detail']['note']})" if e["detail"].get("note") else "")
    ),
    "ProjectMemberAdded": lambda e: (
        f"{e['actor_name']} added {e['user_name']} to {e['project_name']}"
    ),
    "ProjectMemberRemoved": lambda e: (
        f"{e['actor_name']} removed {e['user_name']} from {e['project_name']}"
    ),
    "TaskCreated": lambda e: (
        f'{e["actor_name"]} created the task "{e["task_title"]}" in {e["project_name"]}'
    ),
    "TaskEdited": lambda e: f'{e["actor_name"]} edited the task "{e["task_title"]}"',
    "TaskAssigned": lambda e: f'{e["actor_name"]} assigned "{e["task_title"]}" to {e["user_name"]}',
    "TaskUnassigned": lambda e: (
        f'{e["actor_name"]} unassigned {e["user_name"] or "someone"} from "{e["task_title"]}"'
    ),
    "TaskMoved": lambda e: (
        f'{e["actor_name"]} moved "{e["task_title"]}" from {e["detail"].get("from")} '
        f"to {e['detail'].get('to')}"
    ),
    "TaskArchived": lambda e: f'{e["actor_name"]} archived the task "{e["task_title"]}"',
}


def describe(entry: dict[str, Any]) -> str:
    text = TEXTS.get(entry["type"])
    return text(entry) if text is not None else f"{entry['actor_name']}: {entry['type']}"


def _item(row: Any) -> dict[str, Any]:
    return item_of(dict(row._mapping))


def item_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An activity entry row (column -> value, occurred_at a datetime) as the API shows it."""
    return {
        "position": entry["position"],
        "type": entry["type"],
        "occurred_at": entry["occurred_at"].isoformat(),
        "project_id": entry["project_id"],
        "actor": {"user_id": entry["actor_id"], "name": entry["actor_name"]},
        "text": describe(entry),
    }


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
        sa.select(activity_entry)
        .where(activity_entry.c.tenant_id == tenant_id, activity_entry.c.project_id == project_id)
        .order_by(activity_entry.c.position.desc())
        .limit(limit)
    )
    return [_item(r) for r in rows]


async def _feed(
    connection: AsyncConnection, where: list[Any], before: int | None, limit: int
) -> dict[str, Any]:
    query = sa.select(activity_entry).where(*where)
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
