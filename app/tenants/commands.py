"""Imperative commands of the tenants context (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Actor


@dataclass(frozen=True, slots=True)
class SignUp:
    tenant_name: str
    name: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class InviteUser:
    actor: Actor
    email: str
    name: str
    role: str
    password: str


@dataclass(frozen=True, slots=True)
class UpdateUser:
    actor: Actor
    user_id: str
    name: str | None = None
    role: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeactivateUser:
    actor: Actor
    user_id: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ChangePlan:
    actor: Actor
    plan: str
    expected_version: int | None = None
