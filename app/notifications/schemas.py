"""Wire models of the notifications context."""

from __future__ import annotations

from pydantic import Field

from app.kernel.web import ReadParams, Wire


class InboxParams(ReadParams):
    before: int | None = Field(
        default=None, ge=1, le=2**62, description="Cursor: the `next_before` of the last page"
    )
    limit: int = Field(default=20, ge=1, le=100)
    unread_only: bool = Field(default=False, description="Only notifications not yet read")


class NotificationItem(Wire):
    id: int = Field(description="The global position of the event it is about: id and cursor")
    type: str = Field(description="The event's type, e.g. TaskAssigned")
    occurred_at: str
    actor_id: str | None = Field(description="Who did it")
    project_id: str | None
    task_id: str | None
    text: str = Field(description="What happened, with the names of the moment")
    read: bool


class InboxOut(Wire):
    items: list[NotificationItem]
    next_before: int | None
    unread: int
    as_of_position: int


class UnreadOut(Wire):
    unread: int
    as_of_position: int


class ReadAllBody(Wire):
    up_to: int | None = Field(
        default=None,
        ge=1,
        le=2**62,
        description=(
            "Mark read every notification up to this id (default: the newest the inbox holds"
            " now, so one that arrives meanwhile stays unread)"
        ),
    )
