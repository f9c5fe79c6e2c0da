"""Projection "activity": one feed entry per event worth telling, with the names it mentions."""

from __future__ import annotations

from typing import Any

from app.activity.tables import activity_entry, activity_lookup
from app.activity.texts import actor_of
from app.eventstore.port import StoredEvent
from app.projects import events as p
from app.readside.projector import Projector
from app.readside.rowcache import MISSING
from app.tasks import events as t
from app.tenants import events as u


class ActivityProjector(Projector):
    name = "activity"
    tables = (activity_entry, activity_lookup)
    lookup = "activity_lookup"

    async def _entry(
        self,
        event: Any,
        record: StoredEvent,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        user_id: str | None = None,
        **detail: Any,
    ) -> None:
        actor_id = actor_of(event, record)
        # Names from the cache without awaiting (a rebuild writes an entry per event, and
        # nearly every name is cached); the rare miss is looked up after.
        cached = self.recall_cached
        actor_name = cached("user", actor_id)
        project_name = project_id and cached("project", project_id, "")
        task_title = task_id and cached("task", task_id, "")
        user_name = user_id and cached("user", user_id)
        if MISSING in (actor_name, project_name, task_title, user_name):
            if actor_name is MISSING:
                actor_name = await self.recall("user", actor_id)
            if project_name is MISSING:
                project_name = await self.recall("project", project_id, "")
            if task_title is MISSING:
                task_title = await self.recall("task", task_id, "")
            if user_name is MISSING:
                user_name = await self.recall("user", user_id)
        self.rows(self.t.activity_entry).add(
            {
                "position": record.position,
                "tenant_id": record.tenant_id,
                "project_id": project_id,
                "type": record.type,
                "occurred_at": record.recorded_at,
                "actor_id": actor_id,
                "actor_name": actor_name,
                "project_name": project_name,
                "task_id": task_id,
                "task_title": task_title,
                "user_id": user_id,
                "user_name": user_name,
                "detail": detail,
            }
        )

    async def _propagate(self, kind: str, ref: str, tenant: str, name: str) -> None:
        """A rename reaches every entry that copied the old name."""
        column_id, column_name = {"project": ("project_id", "project_name")}.get(
            kind, ("user_id", "user_name")
        )
        columns = [(column_id, column_name)]
        if kind == "user":
            columns.append(("actor_id", "actor_name"))
        entries = self.t.activity_entry
        # Something first seen in this batch has no stored entries yet: the cache is enough.
        stored = self.rows(self.t.activity_lookup).is_stored(kind, ref)
        for column_id, column_name in columns:
            where = {"tenant_id": tenant, column_id: ref}
            if stored:
                await self.update_where(entries, where, **{column_name: name})
            else:
                self.rows(entries).update_cached(where, {column_name: name})

    # -- users --------------------------------------------------------------------------------
    async def on_user_registered(self, event: u.UserRegistered, record: StoredEvent) -> None:
        self.remember("user", event.user_id, record.tenant_id, event.name)
        await self._entry(event, record, user_id=event.user_id, role=event.role)

    async def on_user_renamed(self, event: u.UserRenamed, record: StoredEvent) -> None:
        old = await self.recall("user", event.user_id)
        await self._entry(event, record, user_id=event.user_id, old_name=old, new_name=event.name)
        await self.rename("user", event.user_id, event.name)
        await self._propagate("user", event.user_id, record.tenant_id, event.name)

    async def on_user_role_changed(self, event: u.UserRoleChanged, record: StoredEvent) -> None:
        await self._entry(event, record, user_id=event.user_id, role=event.role)

    async def on_user_deactivated(self, event: u.UserDeactivated, record: StoredEvent) -> None:
        await self._entry(event, record, user_id=event.user_id)

    # -- projects -----------------------------------------------------------------------------
    async def on_project_created(self, event: p.ProjectCreated, record: StoredEvent) -> None:
        self.remember("project", event.project_id, record.tenant_id, event.name)
        await self._entry(event, record, project_id=event.project_id)

    async def on_project_renamed(self, event: p.ProjectRenamed, record: StoredEvent) -> None:
        old = await self.recall("project", event.project_id, "")
        await self._entry(
            event, record, project_id=event.project_id, old_name=old, new_name=event.name
        )
        await self.rename("project", event.project_id, event.name)
        await self._propagate("project", event.project_id, record.tenant_id, event.name)

    async def on_project_described(self, event: p.ProjectDescribed, record: StoredEvent) -> None:
        await self._entry(event, record, project_id=event.project_id)

    async def on_project_status_changed(
        self, event: p.ProjectStatusChanged, record: StoredEvent
    ) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            **{"from": event.from_status, "to": event.to_status},
        )

    async def on_project_budget_changed(
        self, event: p.ProjectBudgetChanged, record: StoredEvent
    ) -> None:
        await self._entry(
            event, record, project_id=event.project_id, budget_cents=event.budget_cents
        )

    async def on_project_spend_recorded(
        self, event: p.ProjectSpendRecorded, record: StoredEvent
    ) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            amount_cents=event.amount_cents,
            note=event.note,
        )

    async def on_project_member_added(
        self, event: p.ProjectMemberAdded, record: StoredEvent
    ) -> None:
        await self._entry(event, record, project_id=event.project_id, user_id=event.user_id)

    async def on_project_member_removed(
        self, event: p.ProjectMemberRemoved, record: StoredEvent
    ) -> None:
        await self._entry(event, record, project_id=event.project_id, user_id=event.user_id)

    async def on_project_member_role_changed(
        self, event: p.ProjectMemberRoleChanged, record: StoredEvent
    ) -> None:
        await self._entry(
            event, record, project_id=event.project_id, user_id=event.user_id, role=event.role
        )

    async def on_tenant_plan_changed(self, event: u.TenantPlanChanged, record: StoredEvent) -> None:
        await self._entry(event, record, **{"from": event.from_plan, "to": event.plan})

    # -- tasks --------------------------------------------------------------------------------
    async def on_task_created(self, event: t.TaskCreated, record: StoredEvent) -> None:
        self.remember("task", event.task_id, record.tenant_id, event.title)
        await self._entry(event, record, project_id=event.project_id, task_id=event.task_id)

    async def on_task_edited(self, event: t.TaskEdited, record: StoredEvent) -> None:
        old = await self.recall("task", event.task_id, "")
        await self._entry(event, record, project_id=event.project_id, task_id=event.task_id)
        if old != event.title:
            # Feeds read the current title from the lookup (views._ENTRIES): the task's
            # entries are not rewritten.
            await self.rename("task", event.task_id, event.title)

    async def on_task_assigned(self, event: t.TaskAssigned, record: StoredEvent) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            task_id=event.task_id,
            user_id=event.assignee_id,
        )

    async def on_task_unassigned(self, event: t.TaskUnassigned, record: StoredEvent) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            task_id=event.task_id,
            user_id=event.previous_assignee_id or None,
        )

    async def on_task_moved(self, event: t.TaskMoved, record: StoredEvent) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            task_id=event.task_id,
            **{"from": event.from_status, "to": event.to_status},
        )

    async def on_task_archived(self, event: t.TaskArchived, record: StoredEvent) -> None:
        await self._entry(event, record, project_id=event.project_id, task_id=event.task_id)

    async def on_task_due_date_changed(
        self, event: t.TaskDueDateChanged, record: StoredEvent
    ) -> None:
        await self._entry(
            event, record, project_id=event.project_id, task_id=event.task_id, due_at=event.due_at
        )

    # A comment's entry names the comment, never copies its body: a deleted comment's words
    # must not live on in the feed.
    async def on_task_comment_added(self, event: t.TaskCommentAdded, record: StoredEvent) -> None:
        await self._comment(event, record)

    async def on_task_comment_edited(self, event: t.TaskCommentEdited, record: StoredEvent) -> None:
        await self._comment(event, record)

    async def on_task_comment_deleted(
        self, event: t.TaskCommentDeleted, record: StoredEvent
    ) -> None:
        await self._comment(event, record)

    async def _comment(self, event: Any, record: StoredEvent) -> None:
        await self._entry(
            event,
            record,
            project_id=event.project_id,
            task_id=event.task_id,
            comment_id=event.comment_id,
        )
