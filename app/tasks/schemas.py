"""Wire models of the tasks context."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, Strict, StringConstraints

from app.kernel.web import ReadParams, Wire
from app.kernel.wire import UserRef, Uuid

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=10000)]
TaskStatus = Literal["todo", "in_progress", "done"]
Priority = Literal["low", "normal", "high", "urgent"]


def _time_text(value: Any) -> Any:
    # Bodies are strict, but JSON has no time type: a time arrives as text, and only as text
    # (a number would silently be read as seconds since 1970).
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time as a string, with a timezone")
    return value


DueAt = Annotated[
    AwareDatetime,
    Strict(False),
    BeforeValidator(_time_text),
    Field(description="RFC 3339 time with a timezone (years 2000-2199); null clears it"),
]
CommentBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=5000),
    Field(description="The comment's text (1 to 5,000 characters)"),
]


class CreateTaskBody(Wire):
    title: Title
    description: Description = ""
    assignee_id: Uuid | None = None
    due_at: DueAt | None = None
    priority: Priority | None = Field(default=None, description="Default: normal")


class EditTaskBody(Wire):
    title: Title | None = None
    description: Description | None = None
    due_at: DueAt | None = None
    priority: Priority | None = None


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
    created_at: str = Field(description="When the task was created (RFC 3339, UTC)")
    due_at: str | None = Field(description="When it is due (RFC 3339, UTC), or null")
    priority: Priority
    comment_count: int
    version: int


class TaskCard(Wire):
    task_id: str
    title: str
    description: str
    assignee: UserRef | None
    version: int
    created_at: str
    updated_at: str
    due_at: str | None
    overdue: bool = Field(description="Past its due date now and not done (computed as read)")
    priority: Priority
    comment_count: int


class BoardOut(Wire):
    project_id: str
    columns: dict[str, list[TaskCard]]
    as_of_position: int


class MyTaskCard(TaskCard):
    project_id: str
    status: TaskStatus


class MyTasksParams(ReadParams):
    cursor: str | None = Field(default=None, max_length=60)
    limit: int = Field(default=50, ge=1, le=100)
    include_done: bool = Field(default=True, description="false: only todo and in_progress")


class MyTasksOut(Wire):
    items: list[MyTaskCard]
    next_cursor: str | None
    as_of_position: int


class CommentBodyIn(Wire):
    body: CommentBody


class CommentOut(Wire):
    comment_id: str
    author: UserRef
    body: str
    created_at: str
    edited_at: str | None
    mine: bool = Field(description="Whether the caller wrote it (and so may edit or delete it)")


class CommentsParams(ReadParams):
    cursor: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=100)


class CommentsOut(Wire):
    task_id: str
    items: list[CommentOut]
    next_cursor: str | None
    as_of_position: int
