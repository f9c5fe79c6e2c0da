"""Projection "projects": the project list, the dashboard document, and project membership.

The dashboard is kept whole: each summary row carries its newest activity entries (with the ids
and names they mention) and the dashboard JSON rendered from the row, so that reading it is one
primary-key lookup. The entries mirror the activity projection's, from this projection's own
events and names (it never reads another projection); every rename reaches them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from app.activity import api as activity
from app.eventstore.port import StoredEvent
from app.projects.events import (
    ProjectBudgetChanged,
    ProjectCreated,
    ProjectDescribed,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    ProjectRenamed,
    ProjectSpendRecorded,
    ProjectStatusChanged,
)
from app.projects.tables import project_lookup, project_member, project_summary, project_task
from app.readside.projector import Projector
from app.readside.rowcache import Row
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
    TaskUnassigned,
)
from app.tenants.events import UserRegistered, UserRenamed

# How many activity entries the dashboard shows.
RECENT = 20


def completion(total: int, done: int) -> int:
    """Whole percent done, 0 for a project without tasks."""
    return round(100 * done / total) if total else 0


def render_dashboard(row: Row) -> str:
    """The dashboard JSON (as GET /projects/{id}/dashboard answers it, without as_of_position)."""
    project_id, name = row["project_id"], row["name"]
    recent = [
        activity.item_of({**entry, "project_id": project_id, "project_name": name})
        for entry in row["recent"]
    ]
    document = {
        "project_id": project_id,
        "name": name,
        "status": row["status"],
        "task_total": row["task_total"],
        "task_done": row["task_done"],
        "completion_pct": completion(row["task_total"], row["task_done"]),
        "created_at": activity.iso(row["created_at"]),
        "updated_at": activity.iso(row["updated_at"]),
        "description": row["description"],
        "created_by": {"user_id": row["created_by"], "name": row["created_by_name"]},
        "members": row["members"],
        "budget_cents": row["budget_cents"],
        "spend_cents": row["spend_cents"],
        "recent_activity": recent,
    }
    # Sorted keys: a row's JSON values come back from jsonb in its key order, but are built
    # in memory in another; the document must not depend on which (live, rebuilt, partitioned).
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def _renamed_user(entries: list[dict[str, Any]], user_id: str, name: str) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        if entry["actor_id"] == user_id:
            entry = {**entry, "actor_name": name}
        if entry["user_id"] == user_id:
            entry = {**entry, "user_name": name}
        out.append(entry)
    return out


class ProjectsProjector(Projector):
    name = "projects"
    tables = (project_summary, project_member, project_task, project_lookup)
    lookup = "project_lookup"

    def before_write(self) -> None:
        # Each changed summary row gets its dashboard rendered once per batch, however many
        # events touched it.
        for row in self.rows(self.t.project_summary).dirty_rows():
            for entry in row["recent"]:
                # Entries keep the event's datetime until they are written: most of a
                # replay's entries fall out of the newest 20 within the batch.
                entry["occurred_at"] = activity.iso(entry["occurred_at"])
            row["dashboard"] = render_dashboard(row)

    async def _touch(self, project_id: str, record: StoredEvent, **values: Any) -> Row | None:
        return await self.update(
            self.t.project_summary,
            project_id,
            updated_at=record.recorded_at,
            updated_position=record.position,
            **values,
        )

    async def _entry(
        self,
        event: Any,
        record: StoredEvent,
        summary: Row | None,
        *,
        task_id: str | None = None,
        user_id: str | None = None,
        **detail: Any,
    ) -> None:
        """The project's newest activity: what the activity projection writes for this event."""
        if summary is None:
            return
        actor_id = activity.actor_of(event, record)
        task_title = None
        if task_id:
            task = await self.get(self.t.project_task, task_id)
            task_title = "" if task is None else task["title"]
        entry = {
            "position": record.position,
            "type": record.type,
            "occurred_at": record.recorded_at,
            "actor_id": actor_id,
            "actor_name": await self.recall("user", actor_id),
            "task_id": task_id,
            "task_title": task_title,
            "user_id": user_id,
            "user_name": user_id and await self.recall("user", user_id),
            "detail": detail,
        }
        summary["recent"] = [entry, *summary["recent"][: RECENT - 1]]
        self.rows(self.t.project_summary).changed(summary)

    async def _summary(self, project_id: str) -> Row | None:
        return await self.get(self.t.project_summary, project_id)

    # -- names --------------------------------------------------------------------------------
    async def on_user_registered(self, event: UserRegistered, record: StoredEvent) -> None:
        self.remember("user", event.user_id, record.tenant_id, event.name)

    async def on_user_renamed(self, event: UserRenamed, record: StoredEvent) -> None:
        """Every copy of the name changes: members, creators, members lists, activity."""
        await self.rename("user", event.user_id, event.name)
        await self.sync()
        summary, member, tenant = self.t.project_summary, self.t.project_member, record.tenant_id
        user = event.user_id
        await self.connection.execute(
            member.update()
            .where(member.c.tenant_id == tenant, member.c.user_id == user)
            .values(user_name=event.name)
        )
        their_projects = sa.select(member.c.project_id).where(
            member.c.tenant_id == tenant, member.c.user_id == user
        )
        # The entries mention ids inside JSON: match the text, then check each entry exactly.
        found = await self.connection.scalars(
            sa.select(summary.c.project_id).where(
                summary.c.tenant_id == tenant,
                sa.or_(
                    summary.c.created_by == user,
                    summary.c.project_id.in_(their_projects),
                    sa.cast(summary.c.recent, sa.Text).contains(user, autoescape=True),
                ),
            )
        )
        for project_id in found.all():
            row = await self.get(summary, project_id)
            if row is None:
                continue
            if row["created_by"] == user:
                row["created_by_name"] = event.name
            row["members"] = [
                {**m, "name": event.name} if m["user_id"] == user else m for m in row["members"]
            ]
            row["recent"] = _renamed_user(row["recent"], user, event.name)
            self.rows(summary).changed(row)

    # -- projects -----------------------------------------------------------------------------
    async def on_project_created(self, event: ProjectCreated, record: StoredEvent) -> None:
        summary = self.rows(self.t.project_summary).add(
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
                "recent": [],
                "dashboard": None,
            }
        )
        await self._entry(event, record, summary)

    async def on_project_renamed(self, event: ProjectRenamed, record: StoredEvent) -> None:
        # The entries take the project's name from the row when rendered: always the current.
        old = await self._summary(event.project_id)
        old_name = "" if old is None else old["name"]
        summary = await self._touch(event.project_id, record, name=event.name)
        await self._entry(event, record, summary, old_name=old_name, new_name=event.name)

    async def on_project_described(self, event: ProjectDescribed, record: StoredEvent) -> None:
        summary = await self._touch(event.project_id, record, description=event.description)
        await self._entry(event, record, summary)

    async def on_project_status_changed(
        self, event: ProjectStatusChanged, record: StoredEvent
    ) -> None:
        summary = await self._touch(event.project_id, record, status=event.to_status)
        await self._entry(
            event, record, summary, **{"from": event.from_status, "to": event.to_status}
        )

    async def on_project_budget_changed(
        self, event: ProjectBudgetChanged, record: StoredEvent
    ) -> None:
        summary = await self._touch(event.project_id, record, budget_cents=event.budget_cents)
        await self._entry(event, record, summary, budget_cents=event.budget_cents)

    async def on_project_spend_recorded(
        self, event: ProjectSpendRecorded, record: StoredEvent
    ) -> None:
        summary = await self._touch(event.project_id, record, spend_cents=event.actual_spend_cents)
        await self._entry(event, record, summary, amount_cents=event.amount_cents, note=event.note)

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
        summary = await self._summary(event.project_id)
        if summary is not None:
            members = [*summary["members"], {"user_id": event.user_id, "name": name}]
            await self._touch(event.project_id, record, members=members)
        await self._entry(event, record, summary, user_id=event.user_id)

    async def on_project_member_removed(
        self, event: ProjectMemberRemoved, record: StoredEvent
    ) -> None:
        self.rows(self.t.project_member).delete(event.project_id, event.user_id)
        summary = await self._summary(event.project_id)
        if summary is not None:
            members = [m for m in summary["members"] if m["user_id"] != event.user_id]
            await self._touch(event.project_id, record, members=members)
        await self._entry(event, record, summary, user_id=event.user_id)

    async def on_project_member_role_changed(
        self, event: ProjectMemberRoleChanged, record: StoredEvent
    ) -> None:
        summary = await self._touch(event.project_id, record)
        await self._entry(event, record, summary, user_id=event.user_id, role=event.role)

    # -- tasks: counts and activity -----------------------------------------------------------
    async def _count(self, summary: Row | None, record: StoredEvent, total: int, done: int) -> None:
        if summary is not None:
            await self._touch(
                summary["project_id"],
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
                "title": event.title,
                "due_at": None,
            }
        )
        summary = await self._summary(event.project_id)
        await self._count(summary, record, 1, 0)
        await self._entry(event, record, summary, task_id=event.task_id)

    async def on_task_edited(self, event: TaskEdited, record: StoredEvent) -> None:
        task = await self.get(self.t.project_task, event.task_id)
        summary = await self._summary(event.project_id)
        if task is not None and task["title"] != event.title:
            await self.update(self.t.project_task, event.task_id, title=event.title)
            if summary is not None:
                # A task lives in one project: only this row's entries can mention it.
                summary["recent"] = [
                    {**e, "task_title": event.title} if e["task_id"] == event.task_id else e
                    for e in summary["recent"]
                ]
        await self._entry(event, record, summary, task_id=event.task_id)

    async def on_task_assigned(self, event: TaskAssigned, record: StoredEvent) -> None:
        summary = await self._summary(event.project_id)
        await self._entry(event, record, summary, task_id=event.task_id, user_id=event.assignee_id)

    async def on_task_unassigned(self, event: TaskUnassigned, record: StoredEvent) -> None:
        summary = await self._summary(event.project_id)
        await self._entry(
            event,
            record,
            summary,
            task_id=event.task_id,
            user_id=event.previous_assignee_id or None,
        )

    async def on_task_moved(self, event: TaskMoved, record: StoredEvent) -> None:
        task = await self.update(self.t.project_task, event.task_id, status=event.to_status)
        summary = await self._summary(event.project_id)
        if task is not None:
            done = (event.to_status == "done") - (event.from_status == "done")
            await self._count(summary, record, 0, done)
        await self._entry(
            event,
            record,
            summary,
            task_id=event.task_id,
            **{"from": event.from_status, "to": event.to_status},
        )

    async def on_task_archived(self, event: TaskArchived, record: StoredEvent) -> None:
        """Archived tasks leave the totals (they are no longer work to do)."""
        task = await self.get(self.t.project_task, event.task_id)
        summary = await self._summary(event.project_id)
        # The entry names the task: read its title before the row goes.
        await self._entry(event, record, summary, task_id=event.task_id)
        if task is not None:
            self.rows(self.t.project_task).delete(event.task_id)
            await self._count(summary, record, -1, -(task["status"] == "done"))

    async def on_task_due_date_changed(
        self, event: TaskDueDateChanged, record: StoredEvent
    ) -> None:
        """Kept for the dashboard's overdue count (counted when read), and an entry."""
        due = None if event.due_at is None else datetime.fromisoformat(event.due_at)
        await self.update(self.t.project_task, event.task_id, due_at=due)
        summary = await self._summary(event.project_id)
        await self._entry(event, record, summary, task_id=event.task_id, due_at=event.due_at)

    async def on_task_comment_added(self, event: TaskCommentAdded, record: StoredEvent) -> None:
        await self._comment(event, record)

    async def on_task_comment_edited(self, event: TaskCommentEdited, record: StoredEvent) -> None:
        await self._comment(event, record)

    async def on_task_comment_deleted(self, event: TaskCommentDeleted, record: StoredEvent) -> None:
        await self._comment(event, record)

    async def _comment(self, event: Any, record: StoredEvent) -> None:
        summary = await self._summary(event.project_id)
        await self._entry(
            event, record, summary, task_id=event.task_id, comment_id=event.comment_id
        )
