"""Wire models of the tenants context: declared once, used to validate and to build OpenAPI."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.kernel.web import Wire

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]
Role = Literal["owner", "admin", "member"]


class SignUpBody(Wire):
    tenant_name: Name
    name: Name
    email: Email
    password: Password


class LoginBody(Wire):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TokenOut(Wire):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    tenant_id: str
    user_id: str


class SignUpOut(TokenOut):
    position: int


class InviteBody(Wire):
    email: Email
    name: Name
    role: Role = "member"
    password: Password


class UpdateUserBody(Wire):
    name: Name | None = None
    role: Role | None = None


class UserOut(Wire):
    id: str
    tenant_id: str
    email: str
    name: str
    role: Role
    active: bool


class UserListOut(Wire):
    items: list[UserOut]


class RealtimeTicketOut(Wire):
    ticket: str
    expires_in: int
    url: str = Field(description="Where to open the WebSocket")


PlanName = Literal["free", "team", "business"]


class PlanLimitsOut(Wire):
    name: PlanName
    project_limit: int = Field(description="Projects in use (not archived) the plan allows")
    member_limit: int = Field(description="Active users the plan allows")


class TenantPlanOut(Wire):
    tenant_id: str
    plan: PlanName
    project_limit: int = Field(description="Projects in use (not archived) allowed")
    member_limit: int | None = Field(
        description="Active users allowed (null: a tenant registered before plans, no limit)"
    )
    projects_in_use: int = Field(description="Projects created and not archived")
    members_in_use: int = Field(description="Active users of the tenant")
    can_change: bool = Field(description="Whether the caller (only the owner) may change it")
    plans: list[PlanLimitsOut] = Field(description="Every plan, cheapest first")
    version: int = Field(description="The tenant stream's version (send as If-Match)")


class ChangePlanBody(Wire):
    plan: PlanName
