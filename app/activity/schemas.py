"""Wire models of the activity context: feed entries and the feed's parameters."""

from __future__ import annotations

from pydantic import Field

from app.kernel.web import ReadParams, Wire
from app.kernel.wire import UserRef


class FeedParams(ReadParams):
    before: int | None = Field(default=None, ge=1, le=2**62)
    limit: int = Field(default=50, ge=1, le=100)


class ActivityItem(Wire):
    position: int
    type: str
    occurred_at: str
    project_id: str | None
    actor: UserRef
    text: str


class FeedOut(Wire):
    items: list[ActivityItem]
    next_before: int | None
    as_of_position: int
