"""The Inbox aggregate: what one user has marked read. Stream `inbox-<user id>`.

It remembers only the read marks (not the notifications, which the read side derives from
other contexts' events), so that marking read twice records nothing the second time.
"""

from __future__ import annotations

from app.kernel.domain import Aggregate
from app.notifications.events import NotificationRead, NotificationsReadUpTo


class Inbox(Aggregate):
    stream_prefix = "inbox"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.read_up_to = 0
        self.read_one: set[int] = set()  # read individually above `read_up_to`

    def is_read(self, notification: int) -> bool:
        return notification <= self.read_up_to or notification in self.read_one

    def mark_read(self, notification: int) -> None:
        if not self.is_read(notification):
            self.record(NotificationRead(user_id=self.id, notification=notification))

    def mark_all_read(self, up_to: int) -> None:
        if up_to > self.read_up_to:
            self.record(NotificationsReadUpTo(user_id=self.id, up_to=up_to))

    def on_notification_read(self, event: NotificationRead) -> None:
        self.read_one.add(event.notification)

    def on_notifications_read_up_to(self, event: NotificationsReadUpTo) -> None:
        self.read_up_to = event.up_to
        self.read_one = {n for n in self.read_one if n > event.up_to}
