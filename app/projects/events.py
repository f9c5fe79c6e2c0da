"""Past-tense facts of the projects context: its public contract for other contexts."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectCreated(Event):
    project_id: str
    tenant_id: str
    name: str
    description: str
    budget_cents: int
    created_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectRenamed(Event):
    project_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectDescribed(Event):
    project_id: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectStatusChanged(Event):
    project_id: str
    from_status: str
    to_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectBudgetChanged(Event):
    project_id: str
    budget_cents: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectSpendRecorded(Event):
    project_id: str
    amount_cents: int
    actual_spend_cents: int
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectMemberAdded(Event):
    project_id: str
    user_id: str
    # "manager" or "member"; "" in events written before project roles existed (the creator
    # was then the one manager: see Project.on_project_member_added).
    role: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectMemberRemoved(Event):
    project_id: str
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectMemberRoleChanged(Event):
    project_id: str
    user_id: str
    role: str
