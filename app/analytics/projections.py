"""Projection "analytics": per project and UTC day, tasks created and completed, tasks open at
the end of the day, completion times (todo -> done) and spend.

A day is the UTC date of the event's commit time (`recorded_at`), so a rebuild from zero files
every event under the same day as the live projection did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.analytics.tables import analytics_day, analytics_project, analytics_task
from app.eventstore.port import StoredEvent
from app.projects import events as p
from app.readside.projector import Projector
from app.tasks import events as t

DONE = "done"


def utc_day(moment: datetime) -> Any:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date()


class AnalyticsProjector(Projector):
    name = "analytics"
    tables = (analytics_day, analytics_task, analytics_project)

    async def _open_by(self, project_id: str, record: StoredEvent, change: int) -> dict[str, Any]:
        """Move the project's open count by `change`; answer the day row, created if new."""
        project = await self.get(self.t.analytics_project, project_id)
        if project is None:  # a project created before this projection knew of it
            project = {"project_id": project_id, "tenant_id": record.tenant_id, "open_now": 0}
            self.rows(self.t.analytics_project).add(project)
        if change:
            await self.update(
                self.t.analytics_project, project_id, open_now=project["open_now"] + change
            )
        day = utc_day(record.recorded_at)
        row = await self.get(self.t.analytics_day, project_id, day)
        if row is None:
            row = {
                "project_id": project_id,
                "day": day,
                "tenant_id": record.tenant_id,
                "created": 0,
                "completed": 0,
                "open_end": project["open_now"],
                "spend_cents": 0,
                "cycle_seconds": [],
            }
            self.rows(self.t.analytics_day).add(row)
        else:
            await self.update(self.t.analytics_day, project_id, day, open_end=project["open_now"])
        return row

    async def _count(self, row: dict[str, Any], **changes: Any) -> None:
        await self.update(self.t.analytics_day, row["project_id"], row["day"], **changes)

    async def on_project_created(self, event: p.ProjectCreated, record: StoredEvent) -> None:
        self.rows(self.t.analytics_project).add(
            {"project_id": event.project_id, "tenant_id": record.tenant_id, "open_now": 0}
        )

    async def on_project_spend_recorded(
        self, event: p.ProjectSpendRecorded, record: StoredEvent
    ) -> None:
        row = await self._open_by(event.project_id, record, 0)
        await self._count(row, spend_cents=row["spend_cents"] + event.amount_cents)

    async def on_task_created(self, event: t.TaskCreated, record: StoredEvent) -> None:
        self.rows(self.t.analytics_task).add(
            {
                "task_id": event.task_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "status": "todo",
                "created_at": record.recorded_at,
            }
        )
        row = await self._open_by(event.project_id, record, +1)
        await self._count(row, created=row["created"] + 1)

    async def on_task_moved(self, event: t.TaskMoved, record: StoredEvent) -> None:
        task = await self.get(self.t.analytics_task, event.task_id)
        if task is None:
            return
        was_done, is_done = task["status"] == DONE, event.to_status == DONE
        await self.update(self.t.analytics_task, event.task_id, status=event.to_status)
        if was_done == is_done:
            return
        row = await self._open_by(event.project_id, record, -1 if is_done else +1)
        if is_done:
            seconds = int((record.recorded_at - task["created_at"]).total_seconds())
            await self._count(
                row,
                completed=row["completed"] + 1,
                cycle_seconds=[*row["cycle_seconds"], max(seconds, 0)],
            )

    async def on_task_archived(self, event: t.TaskArchived, record: StoredEvent) -> None:
        task = await self.get(self.t.analytics_task, event.task_id)
        if task is None:
            return
        self.rows(self.t.analytics_task).delete(event.task_id)
        if task["status"] != DONE:
            await self._open_by(event.project_id, record, -1)
