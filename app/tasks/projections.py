"""Projection "board": one card per open task, with its assignee's name, due date, priority
and comment count; and the tasks' comments, with their authors' names."""

from __future__ import annotations

from datetime import datetime

from app.eventstore.port import StoredEvent
from app.readside.projector import Projector
from app.tasks.domain import DEFAULT_PRIORITY
from app.tasks.events import (
    TaskArchived,
    TaskAssigned,
    TaskCommentAdded,
    TaskCommentDeleted,
    TaskCommentEdited,
    TaskCreated,
    TaskDueDateChanged,
    TaskEdited,
    TaskMoved,
    TaskPriorityChanged,
    TaskUnassigned,
)
from app.tasks.tables import task_card, task_comment, task_lookup
from app.tenants.events import UserRegistered, UserRenamed


class BoardProjector(Projector):
    name = "board"
    tables = (task_card, task_comment, task_lookup)
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
        comment = self.t.task_comment
        await self.connection.execute(
            comment.update()
            .where(comment.c.tenant_id == record.tenant_id, comment.c.author_id == event.user_id)
            .values(author_name=event.name)
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
                "created_at": record.recorded_at,
                "due_at": None,
                "priority": DEFAULT_PRIORITY,
                "comment_count": 0,
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

    async def on_task_due_date_changed(
        self, event: TaskDueDateChanged, record: StoredEvent
    ) -> None:
        due = None if event.due_at is None else datetime.fromisoformat(event.due_at)
        await self._change(event.task_id, record, due_at=due)

    async def on_task_priority_changed(
        self, event: TaskPriorityChanged, record: StoredEvent
    ) -> None:
        await self._change(event.task_id, record, priority=event.priority)

    async def _count_comments(self, task_id: str, record: StoredEvent, step: int) -> None:
        card = await self.get(self.t.task_card, task_id)
        if card is not None:
            await self._change(task_id, record, comment_count=card["comment_count"] + step)

    async def on_task_comment_added(self, event: TaskCommentAdded, record: StoredEvent) -> None:
        self.rows(self.t.task_comment).add(
            {
                "comment_id": event.comment_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "task_id": event.task_id,
                "author_id": event.author_id,
                "author_name": await self.recall("user", event.author_id),
                "body": event.body,
                "created_at": record.recorded_at,
                "edited_at": None,
                "created_position": record.position,
            }
        )
        await self._count_comments(event.task_id, record, 1)

    async def on_task_comment_edited(self, event: TaskCommentEdited, record: StoredEvent) -> None:
        await self.update(
            self.t.task_comment, event.comment_id, body=event.body, edited_at=record.recorded_at
        )
        await self._change(event.task_id, record)

    async def on_task_comment_deleted(self, event: TaskCommentDeleted, record: StoredEvent) -> None:
        self.rows(self.t.task_comment).delete(event.comment_id)
        await self._count_comments(event.task_id, record, -1)
