"""Projection "projects": the project list and dashboard rows, and project membership."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.kernel.eventstore import StoredEvent
from app.kernel.projections import Projector
from app.projects.events import (
    ProjectBudgetChanged,
    ProjectCreated,
    ProjectDescribed,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectRenamed,
    ProjectSpendRecorded,
    ProjectStatusChanged,
)
from app.projects.tables import project_lookup, project_member, project_summary, project_task
from app.tasks.events import TaskArchived, TaskCreated, TaskMoved
from app.tenants.events import UserRegistered, UserRenamed


class ProjectsProjector(Projector):
    name = "projects"
    tables = (project_summary, project_member, project_task, project_lookup)
    lookup = "project_lookup"

    async def _touch(self, project_id: str, record: StoredEvent, **values: Any) -> None:
        await self.update(
            self.t.project_summary,
            project_id,
            updated_at=record.recorded_at,
            updated_position=record.position,
            **values,
        )

    # -- names --------------------------------------------------------------------------------
    async def on_user_registered(self, event: UserRegistered, record: StoredEvent) -> None:
        self.remember("user", event.user_id, record.tenant_id, event.name)

    async def on_user_renamed(self, event: UserRenamed, record: StoredEvent) -> None:
        """Every copy of the name changes: members, creators, and the members lists."""
        await self.rename("user", event.user_id, event.name)
        await self.sync()
        summary, member, tenant = self.t.project_summary, self.t.project_member, record.tenant_id
        connection = self.connection
        await connection.execute(
            member.update()
            .where(member.c.tenant_id == tenant, member.c.user_id == event.user_id)
            .values(user_name=event.name)
        )
        await connection.execute(
            summary.update()
            .where(summary.c.tenant_id == tenant, summary.c.created_by == event.user_id)
            .values(created_by_name=event.name)
        )
        their_projects = sa.select(member.c.project_id).where(
            member.c.tenant_id == tenant, member.c.user_id == event.user_id
        )
        rows = await connection.execute(
            sa.select(summary.c.project_id, summary.c.members).where(
                summary.c.project_id.in_(their_projects)
            )
        )
        for project_id, members in rows.all():
            renamed = [
                {**m, "name": event.name} if m["user_id"] == event.user_id else m for m in members
            ]
            await connection.execute(
                summary.update().where(summary.c.project_id == project_id).values(members=renamed)
            )

    # -- projects -----------------------------------------------------------------------------
    async def on_project_created(self, event: ProjectCreated, record: StoredEvent) -> None:
        self.rows(self.t.project_summary).add(
            {
                "project_id": event.project_id,
                "tenant_id": record.tenant_id,
                "name": event.name,
                "description": event.description,
                "status": "active",
                "created_by": event.created_by,
                "created_by_name": await self.recall("user", event.created_by),
                "created_at": record.recorded_at,
                "created_position": record.position,
                "budget_cents": event.budget_cents,
                "spend_cents": 0,
                "task_total": 0,
                "task_done": 0,
                "members": [],
                "updated_at": record.recorded_at,
                "updated_position": record.position,
            }
        )

    async def on_project_renamed(self, event: ProjectRenamed, record: StoredEvent) -> None:
        await self._touch(event.project_id, record, name=event.name)

    async def on_project_described(self, event: ProjectDescribed, record: StoredEvent) -> None:
        await self._touch(event.project_id, record, description=event.description)

    async def on_project_status_changed(
        self, event: ProjectStatusChanged, record: StoredEvent
    ) -> None:
        await self._touch(event.project_id, record, status=event.to_status)

    async def on_project_budget_changed(
        self, event: ProjectBudgetChanged, record: StoredEvent
    ) -> None:
        await self._touch(event.project_id, record, budget_cents=event.budget_cents)

    async def on_project_spend_recorded(
        self, event: ProjectSpendRecorded, record: StoredEvent
    ) -> None:
        await self._touch(event.project_id, record, spend_cents=event.actual_spend_cents)

    async def on_project_member_added(self, event: ProjectMemberAdded, record: StoredEvent) -> None:
        name = await self.recall("user", event.user_id)
        self.rows(self.t.project_member).add(
            {
                "project_id": event.project_id,
                "user_id": event.user_id,
                "tenant_id": record.tenant_id,
                "user_name": name,
            }
        )
        summary = await self.get(self.t.project_summary, event.project_id)
        if summary is not None:
            members = [*summary["members"], {"user_id": event.user_id, "name": name}]
            await self._touch(event.project_id, record, members=members)

    async def on_project_member_removed(
        self, event: ProjectMemberRemoved, record: StoredEvent
    ) -> None:
        self.rows(self.t.project_member).delete(event.project_id, event.user_id)
        summary = await self.get(self.t.project_summary, event.project_id)
        if summary is not None:
            members = [m for m in summary["members"] if m["user_id"] != event.user_id]
            await self._touch(event.project_id, record, members=members)

    # -- task counts --------------------------------------------------------------------------
    async def _count(self, project_id: str, record: StoredEvent, total: int, done: int) -> None:
        summary = await self.get(self.t.project_summary, project_id)
        if summary is not None:
            await self._touch(
                project_id,
                record,
                task_total=summary["task_total"] + total,
                task_done=summary["task_done"] + done,
            )

    async def on_task_created(self, event: TaskCreated, record: StoredEvent) -> None:
        self.rows(self.t.project_task).add(
            {
                "task_id": event.task_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "status": "todo",
            }
        )
        await self._count(event.project_id, record, 1, 0)

    async def on_task_moved(self, event: TaskMoved, record: StoredEvent) -> None:
        task = await self.update(self.t.project_task, event.task_id, status=event.to_status)
        if task is not None:
            done = (event.to_status == "done") - (event.from_status == "done")
            await self._count(event.project_id, record, 0, done)

    async def on_task_archived(self, event: TaskArchived, record: StoredEvent) -> None:
        """Archived tasks leave the totals (they are no longer work to do)."""
        task = await self.get(self.t.project_task, event.task_id)
        if task is not None:
            self.rows(self.t.project_task).delete(event.task_id)
            await self._count(event.project_id, record, -1, -(task["status"] == "done"))
