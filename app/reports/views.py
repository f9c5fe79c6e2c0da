"""The reports' rows, read through a server-side cursor and written out as CSV chunks.

A report holds one read-only snapshot open while it streams: the rows, the access check and
the `as_of_position` all come from it, and memory stays flat whatever the row count (the
cursor fetches CHUNK rows at a time, and each chunk is sent before the next is read).
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.kernel.db import scope_to_tenant, snapshot
from app.kernel.domain import Actor
from app.projects import api as projects
from app.readside.projector import read_checkpoints
from app.reports.columns import PROJECT_COLUMNS, TASK_COLUMNS, Column
from app.tasks import api as tasks

CHUNK = 500

_s, _t = projects.project_summary.name, tasks.task_card.name
# Newest first, as the project list; a member sees the projects they are in, owners and
# admins every project of the tenant (app/projects/access.py).
PROJECTS_SQL = f"""
SELECT project_id, name, status, task_total, task_done, budget_cents, spend_cents,
       created_at, updated_at
  FROM {_s}
 WHERE tenant_id = $1
   AND ($3 OR project_id IN (SELECT project_id FROM project_member
                              WHERE tenant_id = $1 AND user_id = $2))
 ORDER BY created_position DESC
"""
# Oldest first, as the board's columns; archived tasks have left the board and the report.
TASKS_SQL = f"""
SELECT task_id, project_id, title, status, assignee_id, assignee_name, description, version,
       updated_at
  FROM {_t}
 WHERE tenant_id = $1 AND project_id = $2
 ORDER BY created_position
"""


class _Lines:
    """The csv writer's file: collects the lines of one chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> bytes:
        chunk = "".join(self.parts).encode()
        self.parts.clear()
        return chunk


async def _rows_as_csv(
    connection: AsyncConnection, columns: Sequence[Column], sql: str, args: Sequence[Any]
) -> AsyncIterator[bytes]:
    lines = _Lines()
    # RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break.
    writer = csv.writer(lines, lineterminator="\r\n")
    writer.writerow([name for name, _ in columns])
    yield lines.take()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    count = 0
    async for record in driver.cursor(sql, *args, prefetch=CHUNK):
        writer.writerow([value(record) for _, value in columns])
        count += 1
        if count % CHUNK == 0:
            yield lines.take()
    if lines.parts:
        yield lines.take()


async def _report(
    engine: AsyncEngine,
    actor: Actor,
    reads: tuple[str, ...],
    columns: Sequence[Column],
    sql: str,
    args: Sequence[Any],
    project_id: str | None = None,
) -> AsyncGenerator[bytes | int, None]:
    """First the as_of_position (after the access check), then the CSV chunks."""
    async with snapshot(engine) as connection:
        await scope_to_tenant(connection, actor.tenant_id)
        if project_id is not None:
            await projects.require_readable(connection, actor, project_id)
        yield min((await read_checkpoints(connection, reads)).values())
        async for chunk in _rows_as_csv(connection, columns, sql, args):
            yield chunk


def projects_report(engine: AsyncEngine, actor: Actor) -> AsyncGenerator[bytes | int, None]:
    args = (actor.tenant_id, actor.user_id, actor.is_admin)
    return _report(engine, actor, ("projects",), PROJECT_COLUMNS, PROJECTS_SQL, args)


def tasks_report(
    engine: AsyncEngine, actor: Actor, project_id: str
) -> AsyncGenerator[bytes | int, None]:
    args = (actor.tenant_id, project_id)
    # The access check reads the projects model, the rows the board: as of the lower of both.
    return _report(engine, actor, ("projects", "board"), TASK_COLUMNS, TASKS_SQL, args, project_id)
