"""Past-tense facts of the tasks context. Every task event names its project."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCreated(Event):
    task_id: str
    project_id: str
    title: str
    description: str
    created_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEdited(Event):
    task_id: str
    project_id: str
    title: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAssigned(Event):
    task_id: str
    project_id: str
    assignee_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskUnassigned(Event):
    task_id: str
    project_id: str
    previous_assignee_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskMoved(Event):
    task_id: str
    project_id: str
    from_status: str
    to_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskArchived(Event):
    task_id: str
    project_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDueDateChanged(Event):
    task_id: str
    project_id: str
    # RFC 3339 in UTC ("2026-12-24T17:00:00+00:00"), or None: no due date any more.
    due_at: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskPriorityChanged(Event):
    task_id: str
    project_id: str
    priority: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCommentAdded(Event):
    task_id: str
    project_id: str
    comment_id: str
    author_id: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCommentEdited(Event):
    task_id: str
    project_id: str
    comment_id: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCommentDeleted(Event):
    task_id: str
    project_id: str
    comment_id: str
