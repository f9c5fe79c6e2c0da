"""Imperative commands of the projects context (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Actor


@dataclass(frozen=True, slots=True)
class CreateProject:
    actor: Actor
    name: str
    description: str = ""
    budget_cents: int = 0


@dataclass(frozen=True, slots=True)
class UpdateProject:
    actor: Actor
    project_id: str
    name: str | None = None
    description: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeProjectStatus:
    actor: Actor
    project_id: str
    status: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeProjectBudget:
    actor: Actor
    project_id: str
    budget_cents: int
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RecordProjectSpend:
    actor: Actor
    project_id: str
    amount_cents: int
    note: str = ""
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class AddProjectMember:
    actor: Actor
    project_id: str
    user_id: str
    expected_version: int | None = None
    role: str = "member"


@dataclass(frozen=True, slots=True)
class ChangeProjectMemberRole:
    actor: Actor
    project_id: str
    user_id: str
    role: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RemoveProjectMember:
    actor: Actor
    project_id: str
    user_id: str
    expected_version: int | None = None
