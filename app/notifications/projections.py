"""Projection "notifications": each user's inbox of what someone else did to their work.

A user is notified when someone else assigns them a task, adds them to or removes them from
a project, changes the status of a project they are in, or moves or edits a task assigned to
them. Their own actions never notify them. Read marks come from their own inbox events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.eventstore.port import StoredEvent
from app.notifications.events import NotificationRead, NotificationsReadUpTo
from app.notifications.tables import (
    notification,
    notification_lookup,
    notification_project,
    notification_task,
)
from app.projects import events as p
from app.readside.projector import Projector
from app.tasks import events as t
from app.tenants.events import UserRegistered, UserRenamed


def _actor(record: StoredEvent) -> str | None:
    actor = record.metadata.get("actor_id")
    return str(actor) if actor else None


class NotificationsProjector(Projector):
    name = "notifications"
    tables = (notification, notification_task, notification_project, notification_lookup)
    lookup = "notification_lookup"

    async def _notify(
        self,
        users: list[str],
        record: StoredEvent,
        text: str,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
    ) -> None:
        actor = _actor(record)
        for user in users:
            if user == actor:
                continue  # nobody is told what they did themselves
            self.rows(self.t.notification).add(
                {
                    "user_id": user,
                    "position": record.position,
                    "tenant_id": record.tenant_id,
                    "type": record.type,
                    "occurred_at": record.recorded_at,
                    "actor_id": actor,
                    "project_id": project_id,
                    "task_id": task_id,
                    "text": text,
                    "read_at": None,
                }
            )

    async def _who(self, record: StoredEvent) -> str:
        return await self.recall("user", _actor(record))

    async def _project(self, project_id: str) -> dict[str, Any] | None:
        return await self.get(self.t.notification_project, project_id)

    async def _project_name(self, project_id: str) -> str:
        row = await self._project(project_id)
        return "a project" if row is None else str(row["name"])

    # -- users ---------------------------------------------------------------------------------
    async def on_user_registered(self, event: UserRegistered, record: StoredEvent) -> None:
        self.remember("user", event.user_id, record.tenant_id, event.name)

    async def on_user_renamed(self, event: UserRenamed, record: StoredEvent) -> None:
        await self.rename("user", event.user_id, event.name)

    # -- projects ------------------------------------------------------------------------------
    async def on_project_created(self, event: p.ProjectCreated, record: StoredEvent) -> None:
        self.rows(self.t.notification_project).add(
            {
                "project_id": event.project_id,
                "tenant_id": record.tenant_id,
                "name": event.name,
                "members": [],
            }
        )

    async def on_project_renamed(self, event: p.ProjectRenamed, record: StoredEvent) -> None:
        await self.update(self.t.notification_project, event.project_id, name=event.name)

    async def on_project_member_added(
        self, event: p.ProjectMemberAdded, record: StoredEvent
    ) -> None:
        row = await self._project(event.project_id)
        if row is not None and event.user_id not in row["members"]:
            members = [*row["members"], event.user_id]
            await self.update(self.t.notification_project, event.project_id, members=members)
        name = await self._project_name(event.project_id)
        text = f"{await self._who(record)} added you to {name}"
        await self._notify([event.user_id], record, text, project_id=event.project_id)

    async def on_project_member_removed(
        self, event: p.ProjectMemberRemoved, record: StoredEvent
    ) -> None:
        row = await self._project(event.project_id)
        if row is not None:
            members = [m for m in row["members"] if m != event.user_id]
            await self.update(self.t.notification_project, event.project_id, members=members)
        name = await self._project_name(event.project_id)
        text = f"{await self._who(record)} removed you from {name}"
        await self._notify([event.user_id], record, text, project_id=event.project_id)

    async def on_project_status_changed(
        self, event: p.ProjectStatusChanged, record: StoredEvent
    ) -> None:
        row = await self._project(event.project_id)
        if row is None:
            return
        text = (
            f"{await self._who(record)} moved {row['name']} from {event.from_status} "
            f"to {event.to_status}"
        )
        await self._notify(list(row["members"]), record, text, project_id=event.project_id)

    # -- tasks ---------------------------------------------------------------------------------
    async def on_task_created(self, event: t.TaskCreated, record: StoredEvent) -> None:
        self.rows(self.t.notification_task).add(
            {
                "task_id": event.task_id,
                "tenant_id": record.tenant_id,
                "project_id": event.project_id,
                "title": event.title,
                "assignee_id": None,
            }
        )

    async def _to_assignee(
        self, task_id: str, record: StoredEvent, what: Callable[[str], str]
    ) -> None:
        """Tell the task's assignee; `what` says what was done, given the task's title (no
        str.format: titles are user text and may hold braces)."""
        task = await self.get(self.t.notification_task, task_id)
        if task is None or task["assignee_id"] is None:
            return
        text = f"{await self._who(record)} {what(str(task['title']))}"
        await self._notify(
            [task["assignee_id"]], record, text, project_id=task["project_id"], task_id=task_id
        )

    async def on_task_assigned(self, event: t.TaskAssigned, record: StoredEvent) -> None:
        await self.update(self.t.notification_task, event.task_id, assignee_id=event.assignee_id)
        name = await self._project_name(event.project_id)
        await self._to_assignee(
            event.task_id, record, lambda title: f'assigned you "{title}" in {name}'
        )

    async def on_task_unassigned(self, event: t.TaskUnassigned, record: StoredEvent) -> None:
        await self.update(self.t.notification_task, event.task_id, assignee_id=None)

    async def on_task_moved(self, event: t.TaskMoved, record: StoredEvent) -> None:
        await self._to_assignee(
            event.task_id,
            record,
            lambda title: f'moved "{title}" from {event.from_status} to {event.to_status}',
        )

    async def on_task_edited(self, event: t.TaskEdited, record: StoredEvent) -> None:
        # Told under the title it had when they last heard of it, then the new one is kept.
        task = await self.get(self.t.notification_task, event.task_id)
        renamed = task is not None and task["title"] != event.title
        now = f' (now "{event.title}")' if renamed else ""
        await self._to_assignee(event.task_id, record, lambda title: f'edited "{title}"{now}')
        await self.update(self.t.notification_task, event.task_id, title=event.title)

    async def on_task_archived(self, event: t.TaskArchived, record: StoredEvent) -> None:
        self.rows(self.t.notification_task).delete(event.task_id)

    # -- the user's own read marks -------------------------------------------------------------
    async def on_notification_read(self, event: NotificationRead, record: StoredEvent) -> None:
        row = await self.get(self.t.notification, event.user_id, event.notification)
        if row is not None and row["read_at"] is None:
            await self.update(
                self.t.notification,
                event.user_id,
                event.notification,
                read_at=record.recorded_at,
            )

    async def on_notifications_read_up_to(
        self, event: NotificationsReadUpTo, record: StoredEvent
    ) -> None:
        # A set-wide change: write the batch out, then one UPDATE over the user's unread rows.
        await self.sync()
        table = self.t.notification
        await self.connection.execute(
            table.update()
            .where(
                table.c.tenant_id == record.tenant_id,
                table.c.user_id == event.user_id,
                table.c.position <= event.up_to,
                table.c.read_at.is_(None),
            )
            .values(read_at=record.recorded_at)
        )
