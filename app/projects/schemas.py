"""Wire models of the projects context. Money is integer cents: exact, never a float."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from app.kernel.web import QueryParams, ReadParams, Wire

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Cents = Annotated[int, Field(ge=0, le=10**13, description="Amount in cents (integer)")]
PositiveCents = Annotated[int, Field(gt=0, le=10**13, description="Amount in cents (integer)")]
Uuid = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
Status = Literal["active", "on_hold", "completed", "cancelled", "archived"]


class CreateProjectBody(Wire):
    name: Name
    description: Description = ""
    budget_cents: Cents = 0


class UpdateProjectBody(Wire):
    name: Name | None = None
    description: Description | None = None


class StatusBody(Wire):
    status: Status


class BudgetBody(Wire):
    budget_cents: Cents


class SpendBody(Wire):
    amount_cents: PositiveCents
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class MemberBody(Wire):
    user_id: Uuid


class ProjectOut(Wire):
    id: str
    tenant_id: str
    name: str
    description: str
    status: Status
    budget_cents: int
    actual_spend_cents: int
    members: list[str]
    created_by: str
    version: int


# -- the read side -----------------------------------------------------------------------


class ListParams(ReadParams):
    status: Status | None = None
    cursor: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=100)


class FeedParams(ReadParams):
    before: int | None = Field(default=None, ge=1, le=2**62)
    limit: int = Field(default=50, ge=1, le=100)


class AsOfParams(QueryParams):
    as_of_version: int | None = Field(default=None, ge=1, le=2**31)
    as_of: datetime | None = Field(default=None, description="RFC 3339 time with a timezone")


class UserRef(Wire):
    user_id: str | None
    name: str | None


class ActivityItem(Wire):
    position: int
    type: str
    occurred_at: str
    project_id: str | None
    actor: UserRef
    text: str


class ProjectListItem(Wire):
    project_id: str
    name: str
    status: Status
    task_total: int
    task_done: int
    completion_pct: int
    created_at: str
    updated_at: str


class ProjectListOut(Wire):
    items: list[ProjectListItem]
    next_cursor: str | None
    as_of_position: int


class DashboardOut(ProjectListItem):
    description: str
    created_by: UserRef
    members: list[UserRef]
    budget_cents: int
    spend_cents: int
    recent_activity: list[ActivityItem]
    as_of_position: int


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


class FeedOut(Wire):
    items: list[ActivityItem]
    next_before: int | None
    as_of_position: int


class HistoryEvent(Wire):
    position: int
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    actor_id: str | None
    recorded_at: str


class HistoryOut(Wire):
    model_config = Wire.model_config | {"extra": "allow"}
    version: int
    events: list[HistoryEvent]


class StateOut(Wire):
    model_config = Wire.model_config | {"extra": "allow"}
    version: int
    state: dict[str, Any]
