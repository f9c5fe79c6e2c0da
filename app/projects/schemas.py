"""Wire models of the projects context. Money is integer cents: exact, never a float."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.kernel.web import Wire

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
