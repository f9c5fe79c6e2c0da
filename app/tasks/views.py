"""Task queries: a project's board, "my tasks", a task's comments, and the history of a task
(time travel)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel import history
from app.kernel.clock import utc_now
from app.kernel.domain import Actor, InvalidInputError
from app.readside.projector import read_checkpoints
from app.tasks.access import load_readable_task
from app.tasks.domain import TASK_STATUSES, Task
from app.tasks.errors import TaskNotFoundError
from app.tasks.ports import Projects
from app.tasks.tables import task_card, task_comment

BOARD_READS = ("board",)
MAX_LIMIT = 100


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def card_of(card: Any, now: datetime) -> dict[str, Any]:
    """A board card. Overdue is worked out as it is read: a due date passes with the clock,
    no event marks it. A done task is never overdue."""
    due = card["due_at"]
    return {
        "task_id": card["task_id"],
        "title": card["title"],
        "description": card["description"],
        "assignee": None
        if card["assignee_id"] is None
        else {"user_id": card["assignee_id"], "name": card["assignee_name"]},
        "version": card["version"],
        "created_at": card["created_at"].isoformat(),
        "updated_at": card["updated_at"].isoformat(),
        "due_at": _iso(due),
        "overdue": due is not None and due < now and card["status"] != "done",
        "priority": card["priority"],
        "comment_count": card["comment_count"],
    }


async def task_board(
    connection: AsyncConnection, actor: Actor, project_id: str, *, projects: Projects
) -> dict[str, Any]:
    """A readable project's open tasks grouped by status, oldest first within each column."""
    await projects.require_readable(connection, actor, project_id)
    rows = await connection.execute(
        sa.select(task_card)
        .where(task_card.c.tenant_id == actor.tenant_id, task_card.c.project_id == project_id)
        .order_by(task_card.c.created_position)
    )
    columns: dict[str, list[dict[str, Any]]] = {status: [] for status in TASK_STATUSES}
    now = utc_now()
    for row in rows:
        card = row._mapping
        columns.setdefault(card["status"], []).append(card_of(card, now))
    checkpoints = await read_checkpoints(connection, BOARD_READS)
    return {
        "project_id": project_id,
        "columns": columns,
        "as_of_position": min(checkpoints.values()),
    }


def _my_cursor(cursor: str | None) -> tuple[datetime | None, int] | None:
    """A "my tasks" cursor: "<due as epoch microseconds, or '-' for none>.<position>"."""
    if not cursor:
        return None
    due, _, position = cursor.partition(".")
    try:
        when = None if due == "-" else datetime.fromtimestamp(int(due) / 1e6, tz=UTC)
        return when, int(position)
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError("cursor must be a value from next_cursor", field="cursor") from None


def _my_next(card: Any) -> str:
    due: datetime | None = card["due_at"]
    head = "-" if due is None else str(round(due.timestamp() * 1e6))
    return f"{head}.{card['created_position']}"


async def my_tasks(
    connection: AsyncConnection,
    actor: Actor,
    *,
    projects: Projects,
    cursor: str | None = None,
    limit: int = 50,
    include_done: bool = True,
) -> dict[str, Any]:
    """The open (not archived) tasks assigned to the actor, in the projects they may read now,
    soonest due first, those without a due date last, then oldest first; cursor paged."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    after = _my_cursor(cursor)
    c = task_card.c
    query = sa.select(task_card).where(
        c.tenant_id == actor.tenant_id, c.assignee_id == actor.user_id
    )
    readable = projects.readable_projects_query(actor)
    if readable is not None:
        # Removal unassigns, but an assignment racing a removal can survive it (see
        # docs/permissions.md): such a task is not the member's to read any more.
        query = query.where(c.project_id.in_(readable))
    if not include_done:
        query = query.where(c.status != "done")
    if after is not None:
        due, position = after
        if due is None:
            query = query.where(c.due_at.is_(None), c.created_position > position)
        else:
            query = query.where(
                sa.or_(
                    c.due_at.is_(None),
                    c.due_at > due,
                    sa.and_(c.due_at == due, c.created_position > position),
                )
            )
    query = query.order_by(c.due_at.asc().nulls_last(), c.created_position).limit(limit + 1)
    rows = [r._mapping for r in await connection.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    now = utc_now()
    items = [
        {**card_of(card, now), "project_id": card["project_id"], "status": card["status"]}
        for card in rows
    ]
    checkpoints = await read_checkpoints(connection, BOARD_READS)
    return {
        "items": items,
        "next_cursor": _my_next(rows[-1]) if more else None,
        "as_of_position": min(checkpoints.values()),
    }


async def task_comments(
    connection: AsyncConnection,
    actor: Actor,
    task_id: str,
    *,
    project_id: str,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """A task's comments, oldest first, cursor paged (the caller checked it may read the task)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if cursor and not cursor.isdigit():
        raise InvalidInputError("cursor must be a value from next_cursor", field="cursor")
    c = task_comment.c
    query = sa.select(task_comment).where(
        c.tenant_id == actor.tenant_id, c.task_id == task_id, c.project_id == project_id
    )
    if cursor:
        query = query.where(c.created_position > int(cursor))
    rows = [
        r._mapping
        for r in await connection.execute(query.order_by(c.created_position).limit(limit + 1))
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    checkpoints = await read_checkpoints(connection, BOARD_READS)
    return {
        "task_id": task_id,
        "items": [
            {
                "comment_id": r["comment_id"],
                "author": {"user_id": r["author_id"], "name": r["author_name"]},
                "body": r["body"],
                "created_at": r["created_at"].isoformat(),
                "edited_at": _iso(r["edited_at"]),
                "mine": r["author_id"] == actor.user_id,
            }
            for r in rows
        ],
        "next_cursor": str(rows[-1]["created_position"]) if more else None,
        "as_of_position": min(checkpoints.values()),
    }


async def task_history(
    uow: UnitOfWork, actor: Actor, task_id: str, *, projects: Projects
) -> dict[str, Any]:
    """The task's events in order; readable only by who may read its project now."""
    return await history.history_view(
        uow, Task, task_id, key="task_id", readable=_readable(actor, task_id, projects)
    )


async def task_state(
    uow: UnitOfWork,
    actor: Actor,
    task_id: str,
    *,
    as_of_version: int | None = None,
    as_of: datetime | None = None,
    projects: Projects,
) -> dict[str, Any]:
    """The task as it was at a version and/or a time, rebuilt by replaying its events."""
    return await history.state_view(
        uow,
        Task,
        task_id,
        key="task_id",
        readable=_readable(actor, task_id, projects),
        missing=lambda: TaskNotFoundError(
            f"task {task_id} did not exist yet at that point", task_id=task_id
        ),
        as_of_version=as_of_version,
        as_of=as_of,
    )


async def _readable_task(uow: UnitOfWork, actor: Actor, task_id: str, projects: Projects) -> Task:
    task, _ = await load_readable_task(uow, actor, task_id, projects=projects)
    return task


def _readable(actor: Actor, task_id: str, projects: Projects) -> history.Readable:
    return lambda uow: _readable_task(uow, actor, task_id, projects)


async def task_created_at(uow: UnitOfWork, task_id: str) -> datetime | None:
    """When the task was created: its first event's time (GET answers it)."""
    return await repository.created_at(uow, Task, task_id)
