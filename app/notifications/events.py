"""Past-tense facts of the notifications context: a user read their inbox (one, or up to a point).

Reading is recorded as events, not as an UPDATE of the read model, so that a rebuild of the
inbox from position zero reproduces which notifications are read.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.domain import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationRead(Event):
    user_id: str
    notification: int  # the position of the event the notification is about


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationsReadUpTo(Event):
    user_id: str
    up_to: int  # every notification at or below this position is read
