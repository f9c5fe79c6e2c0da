"""Task queries: a project's board, and the history of a task (time travel)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.eventstore.uow import UnitOfWork
from app.kernel import history
from app.kernel.domain import Actor
from app.readside.projector import read_checkpoints
from app.tasks.access import load_readable_task
from app.tasks.domain import TASK_STATUSES, Task
from app.tasks.errors import TaskNotFoundError
from app.tasks.ports import Projects
from app.tasks.tables import task_card

BOARD_READS = ("board",)


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
    for row in rows:
        card = row._mapping
        columns.setdefault(card["status"], []).append(
            {
                "task_id": card["task_id"],
                "title": card["title"],
                "description": card["description"],
                "assignee": None
                if card["assignee_id"] is None
                else {"user_id": card["assignee_id"], "name": card["assignee_name"]},
                "version": card["version"],
                "updated_at": card["updated_at"].isoformat(),
            }
        )
    checkpoints = await read_checkpoints(connection, BOARD_READS)
    return {
        "project_id": project_id,
        "columns": columns,
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
