"""Projection "board": one card per open task, with its assignee's name."""

from __future__ import annotations

from app.eventstore.port import StoredEvent
from app.readside.projector import Projector
from app.tasks.events import (
    TaskArchived,
    TaskAssigned,
    TaskCreated,
    TaskEdited,
    TaskMoved,
    TaskUnassigned,
)
from app.tasks.tables import task_card, task_lookup
from app.tenants.events import UserRegistered, UserRenamed


class BoardProjector(Projector):
    name = "board"
    tables = (task_card, task_lookup)
    lookup = "task_lookup"

    async def _change(self, task_id: str, record: StoredEvent, **values: object) -> None:
        await self.update(
            self.t.task_card,
            task_id,
            updated_at=record.recorded_at,
            version=record.version,
            **values,
        )

    async def on_user_registered(self, event: UserRegistered, record: StoredEvent) -> None:
        self.remember("user", event.user_id, record.tenant_id, event.name)

    async def on_user_renamed(self, event: UserRenamed, record: StoredEvent) -> None:
        await self.rename("user", event.user_id, event.name)
        # Assignees change, so no cached index on them: write out, then one UPDATE.
        await self.sync()
        card = self.t.task_card
        await self.connection.execute(
            card.update()
            .where(card.c.tenant_id == record.tenant_id, card.c.assignee_id == event.user_id)
            .values(assignee_name=event.name)
        )

    async def on_task_created(self, event: TaskCreated, record: StoredEvent) -> None:
        self.rows(self.t.task_card).add(
            {
                "task_id": event.task_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "title": event.title,
                "description": event.description,
                "status": "todo",
                "assignee_id": None,
                "assignee_name": None,
                "created_position": record.position,
                "updated_at": record.recorded_at,
                "version": record.version,
            }
        )

    async def on_task_edited(self, event: TaskEdited, record: StoredEvent) -> None:
        await self._change(event.task_id, record, title=event.title, description=event.description)

    async def on_task_assigned(self, event: TaskAssigned, record: StoredEvent) -> None:
        name = await self.recall("user", event.assignee_id)
        await self._change(event.task_id, record, assignee_id=event.assignee_id, assignee_name=name)

    async def on_task_unassigned(self, event: TaskUnassigned, record: StoredEvent) -> None:
        await self._change(event.task_id, record, assignee_id=None, assignee_name=None)

    async def on_task_moved(self, event: TaskMoved, record: StoredEvent) -> None:
        await self._change(event.task_id, record, status=event.to_status)

    async def on_task_archived(self, event: TaskArchived, record: StoredEvent) -> None:
        self.rows(self.t.task_card).delete(event.task_id)
