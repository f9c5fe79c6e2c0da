"""Project queries: the list, the dashboard, and the history of a project (time travel)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.activity import api as activity
from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel import history
from app.kernel.db import projection_checkpoint
from app.kernel.domain import Actor, InvalidInputError
from app.projects import access
from app.projects.access import load_readable, projects_of_user, readable_project_ids
from app.projects.domain import STATUSES, Project
from app.projects.errors import ProjectNotFoundError
from app.projects.projections import completion
from app.projects.tables import project_summary, project_task
from app.readside.projector import read_checkpoints

# The projections each query reads: what `min_position` must wait for.
LIST_READS = ("projects",)
DASHBOARD_READS = ("projects",)
# A dashboard composed per request (a project not written since migration 0005) reads both.
COMPOSED_READS = ("projects", "activity")
MAX_LIMIT = 100
RECENT_ACTIVITY = 20

__all__ = [
    "DASHBOARD_READS",
    "LIST_READS",
    "list_projects",
    "project_dashboard",
    "project_history",
    "project_created_at",
    "project_state",
    "projects_of_user",
    "readable_project_ids",
]


async def _as_of(connection: AsyncConnection, names: tuple[str, ...]) -> int:
    # The lowest of the checkpoints: every event up to it is reflected in the answer.
    return min((await read_checkpoints(connection, names)).values())


def _list_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": row["project_id"],
        "name": row["name"],
        "status": row["status"],
        "task_total": row["task_total"],
        "task_done": row["task_done"],
        "completion_pct": completion(row["task_total"], row["task_done"]),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        raise InvalidInputError("cursor must be a value from next_cursor", field="cursor")
    return int(cursor)


async def list_projects(
    connection: AsyncConnection,
    actor: Actor,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The projects the actor may read, newest first, optionally of one status; cursor paged."""
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}", field="status")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    after = _parse_cursor(cursor)
    s = project_summary.c
    query = sa.select(
        s.project_id,
        s.name,
        s.status,
        s.task_total,
        s.task_done,
        s.created_at,
        s.updated_at,
        s.created_position,
    ).where(s.tenant_id == actor.tenant_id)
    if not actor.is_admin:
        query = query.where(
            s.project_id.in_(access.member_project_ids(actor.tenant_id, actor.user_id))
        )
    if status is not None:
        query = query.where(s.status == status)
    if after is not None:
        query = query.where(s.created_position < after)
    rows = [
        dict(r._mapping)
        for r in await connection.execute(
            query.order_by(s.created_position.desc()).limit(limit + 1)
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [_list_item(r) for r in rows],
        "next_cursor": str(rows[-1]["created_position"]) if more else None,
        "as_of_position": await _as_of(connection, LIST_READS),
    }


def overdue_count(project_id: str) -> sa.ScalarSelect[Any]:
    """How many of the project's open tasks are past due now (done ones never are). Counted
    as the dashboard is read: a due date passes with the clock, no event marks it."""
    t = project_task.c
    return (
        sa.select(sa.func.count())
        .where(
            t.project_id == project_id,
            t.due_at < sa.func.now(),
            t.status != "done",
        )
        .scalar_subquery()
    )


async def project_dashboard(
    connection: AsyncConnection, actor: Actor, project_id: str
) -> dict[str, Any]:
    """One project's dashboard: the document the projection keeps, one row, with its position
    and the overdue count."""
    s = project_summary.c
    as_of = (
        sa.select(projection_checkpoint.c.position)
        .where(projection_checkpoint.c.name == "projects")
        .scalar_subquery()
    )
    found = (
        await connection.execute(
            sa.select(
                s.dashboard,
                s.members,
                as_of.label("as_of_position"),
                overdue_count(project_id).label("task_overdue"),
            ).where(s.tenant_id == actor.tenant_id, s.project_id == project_id)
        )
    ).first()
    if found is None or not (
        actor.is_admin or any(m["user_id"] == actor.user_id for m in found.members)
    ):
        raise ProjectNotFoundError(f"project {project_id} not found", project_id=project_id)
    if found.dashboard is None:
        return await _composed_dashboard(connection, actor, project_id)
    document: dict[str, Any] = orjson.loads(found.dashboard)
    document["task_overdue"] = int(found.task_overdue)
    document["as_of_position"] = int(found.as_of_position or 0)
    return document


async def _composed_dashboard(
    connection: AsyncConnection, actor: Actor, project_id: str
) -> dict[str, Any]:
    # A row not written since migration 0005 has no document yet: compose it from the summary
    # row and the activity read model, as of the lower of both checkpoints.
    as_of = (
        sa.select(sa.func.min(projection_checkpoint.c.position))
        .where(projection_checkpoint.c.name.in_(COMPOSED_READS))
        .scalar_subquery()
    )
    found = (
        await connection.execute(
            sa.select(
                project_summary,
                as_of.label("as_of_position"),
                overdue_count(project_id).label("task_overdue"),
            ).where(
                project_summary.c.tenant_id == actor.tenant_id,
                project_summary.c.project_id == project_id,
            )
        )
    ).first()
    if found is None:
        raise ProjectNotFoundError(f"project {project_id} not found", project_id=project_id)
    row = dict(found._mapping)
    return {
        **_list_item(row),
        "description": row["description"],
        "created_by": {"user_id": row["created_by"], "name": row["created_by_name"]},
        "members": row["members"],
        "budget_cents": row["budget_cents"],
        "spend_cents": row["spend_cents"],
        "recent_activity": await activity.recent(
            connection, actor.tenant_id, project_id, RECENT_ACTIVITY
        ),
        "task_overdue": int(row["task_overdue"]),
        "as_of_position": int(row["as_of_position"] or 0),
    }


# The dashboard in one statement (PostgreSQL, the API's path), a prepared statement on an
# autocommit connection: one round trip, no session state. The outer query sets the tenant for
# the statement's own transaction; the lookup is a subquery correlated with that result, so it
# can only run after the tenant is set, and row-level security then filters it as it filters
# every read (the planner turns the policy into a one-time check that the setting equals the
# tenant asked for; if it did not, the lookup would find nothing: a 404, never another tenant's
# row). One primary-key lookup of the document the projection keeps, with the access check,
# the `projects` checkpoint and the overdue count (an index range of the project's due tasks,
# counted now: overdue comes with the clock): "<position> <overdue> <document>"; NULL: not
# found or not readable; '': no document yet. It costs a fifth of what the plpgsql function
# of migration 0005 did, which ran the same lookup (docs/read-side.md).
DOCUMENT_SQL = """
SELECT (SELECT coalesce(c.position || ' ' || (SELECT count(*) FROM project_task t
                                               WHERE t.project_id = $2 AND t.due_at < now()
                                                 AND t.status <> 'done')
                                 || ' ' || s.dashboard, '')
          FROM project_summary s, projection_checkpoint c
         WHERE s.tenant_id = bound.tenant AND s.project_id = $2 AND c.name = 'projects'
           AND ($4 OR EXISTS (SELECT FROM project_member m
                              WHERE m.project_id = $2 AND m.user_id = $3)))
  FROM (SELECT pg_catalog.set_config('app.tenant_id', $1::text, true) AS tenant) AS bound
"""


async def dashboard_document(
    connection: Any, actor: Actor, project_id: str
) -> tuple[bytes, int] | None:
    """The dashboard as ready JSON bytes and its as_of_position, on a raw asyncpg connection;
    None for a project whose document is not written yet (then compose it)."""
    found = await connection.fetchval(
        DOCUMENT_SQL, actor.tenant_id, project_id, actor.user_id, actor.is_admin
    )
    if found is None:
        raise ProjectNotFoundError(f"project {project_id} not found", project_id=project_id)
    if found == "":
        return None
    position, _, rest = found.partition(" ")
    overdue, _, document = rest.partition(" ")
    # The stored document is a JSON object without these two: close it with them.
    closing = f',"task_overdue":{overdue},"as_of_position":{position}}}'
    return f"{document[:-1]}{closing}".encode(), int(position)


async def project_history(uow: UnitOfWork, actor: Actor, project_id: str) -> dict[str, Any]:
    """The project's events in order; readable only by who may read the project now."""
    return await history.history_view(
        uow, Project, project_id, key="project_id", readable=_readable(actor, project_id)
    )


async def project_state(
    uow: UnitOfWork,
    actor: Actor,
    project_id: str,
    *,
    as_of_version: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The project as it was at a version and/or a time, rebuilt by replaying its events."""
    return await history.state_view(
        uow,
        Project,
        project_id,
        key="project_id",
        readable=_readable(actor, project_id),
        missing=lambda: ProjectNotFoundError(
            f"project {project_id} did not exist yet at that point", project_id=project_id
        ),
        as_of_version=as_of_version,
        as_of=as_of,
    )


def _readable(actor: Actor, project_id: str) -> history.Readable:
    return lambda uow: load_readable(uow, actor, project_id)


async def project_created_at(uow: UnitOfWork, project_id: str) -> datetime | None:
    """When the project was created: its first event's time (GET answers it)."""
    return await repository.created_at(uow, Project, project_id)
