"""Past-tense facts of the tenants context: its public contract for other contexts."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantRegistered(Event):
    tenant_id: str
    name: str
    project_limit: int
    owner_id: str
    # Absent before plans: those tenants are on the free plan with no member limit (None).
    plan: str = "free"
    member_limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantProjectAdded(Event):
    """A project took one of the plan's project slots (the limit's consistency boundary)."""

    tenant_id: str
    project_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantProjectReleased(Event):
    """An archived project gave its plan slot back (the limit counts projects in use)."""

    tenant_id: str
    project_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPlanChanged(Event):
    """The owner moved the tenant to another plan; its limits are carried, as they were."""

    tenant_id: str
    from_plan: str
    plan: str
    project_limit: int
    member_limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(Event):
    user_id: str
    tenant_id: str
    email: str
    name: str
    role: str
    invited_by: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRenamed(Event):
    user_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRoleChanged(Event):
    user_id: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDeactivated(Event):
    user_id: str
