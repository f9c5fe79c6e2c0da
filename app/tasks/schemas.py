"""Wire models of the tasks context."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from app.kernel.web import Wire
from app.kernel.wire import UserRef, Uuid

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=10000)]
TaskStatus = Literal["todo", "in_progress", "done"]


class CreateTaskBody(Wire):
    title: Title
    description: Description = ""
    assignee_id: Uuid | None = None


class EditTaskBody(Wire):
    title: Title | None = None
    description: Description | None = None


class AssignBody(Wire):
    assignee_id: Uuid | None


class MoveBody(Wire):
    status: TaskStatus


class TaskOut(Wire):
    id: str
    project_id: str
    title: str
    description: str
    status: TaskStatus
    assignee_id: str | None
    archived: bool
    created_by: str
    version: int


class TaskCard(Wire):
    task_id: str
    title: str
    description: str
    assignee: UserRef | None
    version: int
    updated_at: str


class BoardOut(Wire):
    project_id: str
    columns: dict[str, list[TaskCard]]
    as_of_position: int
