"""Imperative commands of the tasks context (plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.kernel.domain import Actor


@dataclass(frozen=True, slots=True)
class CreateTask:
    actor: Actor
    project_id: str
    title: str
    description: str = ""
    assignee_id: str | None = None
    due_at: datetime | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class EditTask:
    actor: Actor
    task_id: str
    title: str | None = None
    description: str | None = None
    expected_version: int | None = None
    priority: str | None = None
    due_at: datetime | None = None
    # due_at None means "clear the due date" only when this is set (the field was sent).
    set_due_at: bool = False


@dataclass(frozen=True, slots=True)
class AssignTask:
    actor: Actor
    task_id: str
    assignee_id: str | None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class MoveTask:
    actor: Actor
    task_id: str
    status: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveTask:
    actor: Actor
    task_id: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class AddTaskComment:
    actor: Actor
    task_id: str
    body: str


@dataclass(frozen=True, slots=True)
class EditTaskComment:
    actor: Actor
    task_id: str
    comment_id: str
    body: str


@dataclass(frozen=True, slots=True)
class DeleteTaskComment:
    actor: Actor
    task_id: str
    comment_id: str
