"""Projection "search": one full-text entry per project and per open task, and who may read it.

The projection keeps its own copy of project membership and of project names, so a search is
answered from this projection's tables alone, all at its one checkpoint (`as_of_position`).
"""

from __future__ import annotations

from app.eventstore.port import StoredEvent
from app.projects.events import (
    ProjectCreated,
    ProjectDescribed,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectRenamed,
    ProjectStatusChanged,
)
from app.readside.projector import Projector
from app.search.tables import search_entry, search_lookup, search_member
from app.tasks.events import TaskArchived, TaskCreated, TaskEdited, TaskMoved

PROJECT, TASK = "project", "task"


class SearchProjector(Projector):
    name = "search"
    tables = (search_entry, search_member, search_lookup)
    lookup = "search_lookup"

    async def on_project_created(self, event: ProjectCreated, record: StoredEvent) -> None:
        self.remember(PROJECT, event.project_id, record.tenant_id, event.name)
        self.rows(self.t.search_entry).add(
            {
                "kind": PROJECT,
                "ref_id": event.project_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "project_name": event.name,
                "title": event.name,
                "body": event.description,
                "status": "active",
            }
        )

    async def on_project_renamed(self, event: ProjectRenamed, record: StoredEvent) -> None:
        await self.rename(PROJECT, event.project_id, event.name)
        await self.update(self.t.search_entry, PROJECT, event.project_id, title=event.name)
        # Every entry of the project shows its name; a task never changes project, so the
        # (tenant, project) index of the cache stays valid.
        await self.update_where(
            self.t.search_entry,
            {"tenant_id": record.tenant_id, "project_id": event.project_id},
            project_name=event.name,
        )

    async def on_project_described(self, event: ProjectDescribed, record: StoredEvent) -> None:
        await self.update(self.t.search_entry, PROJECT, event.project_id, body=event.description)

    async def on_project_status_changed(
        self, event: ProjectStatusChanged, record: StoredEvent
    ) -> None:
        await self.update(self.t.search_entry, PROJECT, event.project_id, status=event.to_status)

    async def on_project_member_added(self, event: ProjectMemberAdded, record: StoredEvent) -> None:
        self.rows(self.t.search_member).add(
            {
                "project_id": event.project_id,
                "user_id": event.user_id,
                "tenant_id": record.tenant_id,
            }
        )

    async def on_project_member_removed(
        self, event: ProjectMemberRemoved, record: StoredEvent
    ) -> None:
        self.rows(self.t.search_member).delete(event.project_id, event.user_id)

    async def on_task_created(self, event: TaskCreated, record: StoredEvent) -> None:
        project_name = await self.recall(PROJECT, event.project_id, default="")
        self.rows(self.t.search_entry).add(
            {
                "kind": TASK,
                "ref_id": event.task_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "project_name": project_name,
                "title": event.title,
                "body": event.description,
                "status": "todo",
            }
        )

    async def on_task_edited(self, event: TaskEdited, record: StoredEvent) -> None:
        await self.update(
            self.t.search_entry, TASK, event.task_id, title=event.title, body=event.description
        )

    async def on_task_moved(self, event: TaskMoved, record: StoredEvent) -> None:
        await self.update(self.t.search_entry, TASK, event.task_id, status=event.to_status)

    async def on_task_archived(self, event: TaskArchived, record: StoredEvent) -> None:
        self.rows(self.t.search_entry).delete(TASK, event.task_id)
