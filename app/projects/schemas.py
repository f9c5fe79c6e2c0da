"""Wire models of the projects context. Money is integer cents: exact, never a float."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.activity.api import ActivityItem
from app.kernel.web import ReadParams, Wire
from app.kernel.wire import UserRef, Uuid

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Cents = Annotated[int, Field(ge=0, le=10**13, description="Amount in cents (integer)")]
PositiveCents = Annotated[int, Field(gt=0, le=10**13, description="Amount in cents (integer)")]
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


ProjectRole = Literal["manager", "member"]


class MemberBody(Wire):
    user_id: Uuid
    role: ProjectRole = Field(
        "member", description="A manager manages the project with the tenant's owners and admins"
    )


class MemberRoleBody(Wire):
    role: ProjectRole


class ProjectOut(Wire):
    id: str
    tenant_id: str
    name: str
    description: str
    status: Status
    budget_cents: int
    actual_spend_cents: int
    members: list[str]
    managers: list[str] = Field(description="The members who manage the project, sorted")
    created_by: str
    created_at: str = Field(description="When the project was created (RFC 3339, UTC)")
    version: int


# -- the read side -----------------------------------------------------------------------


class ListParams(ReadParams):
    status: Status | None = None
    cursor: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=100)


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
    task_overdue: int = Field(
        description="Open tasks past their due date now (done tasks are never overdue)"
    )
    as_of_position: int
