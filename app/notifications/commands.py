"""Imperative requests of the notifications context."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Actor


@dataclass(frozen=True, slots=True)
class MarkNotificationRead:
    actor: Actor
    notification: int


@dataclass(frozen=True, slots=True)
class MarkAllNotificationsRead:
    actor: Actor
    up_to: int
