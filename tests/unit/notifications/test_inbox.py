"""The Inbox aggregate: read marks recorded once, and a mark-all that covers earlier marks."""

from __future__ import annotations

from app.notifications.domain import Inbox
from app.notifications.events import NotificationRead, NotificationsReadUpTo


def test_marking_one_read_records_it_once() -> None:
    inbox = Inbox("u1")
    inbox.mark_read(7)
    inbox.mark_read(7)
    assert inbox.pending == [NotificationRead(user_id="u1", notification=7)]
    assert inbox.is_read(7) and not inbox.is_read(8)


def test_marking_all_read_covers_what_came_before_and_nothing_after() -> None:
    inbox = Inbox.replay("u1", [NotificationRead(user_id="u1", notification=9)])
    inbox.mark_all_read(8)
    inbox.mark_all_read(5)  # already covered: nothing
    inbox.mark_read(3)  # already covered: nothing
    assert inbox.pending == [NotificationsReadUpTo(user_id="u1", up_to=8)]
    assert inbox.is_read(3) and inbox.is_read(9) and not inbox.is_read(10)
    assert inbox.read_one == {9}


def test_replay_of_its_events_gives_the_same_marks() -> None:
    live = Inbox("u1")
    for step in (
        lambda: live.mark_read(4),
        lambda: live.mark_all_read(6),
        lambda: live.mark_read(12),
    ):
        step()
    replayed = Inbox.replay("u1", live.pending)
    assert (replayed.read_up_to, replayed.read_one) == (6, {12})
