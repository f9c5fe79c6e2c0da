"""Command handlers of the notifications context: a user marks their own inbox read."""

from __future__ import annotations

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.messagebus import CommandResult
from app.notifications.commands import MarkAllNotificationsRead, MarkNotificationRead
from app.notifications.domain import Inbox


async def _saved(uow: UnitOfWork, inbox: Inbox, tenant_id: str) -> CommandResult:
    stored = await repository.save(uow, inbox, tenant_id=tenant_id, project_id=None)
    return CommandResult(inbox.id, inbox.version, stored[-1].position if stored else 0)


async def mark_notification_read(cmd: MarkNotificationRead, uow: UnitOfWork) -> CommandResult:
    """Mark one of the caller's notifications read (the route checked that it is theirs)."""
    inbox = await repository.load(uow, Inbox, cmd.actor.user_id)
    inbox.mark_read(cmd.notification)
    return await _saved(uow, inbox, cmd.actor.tenant_id)


async def mark_all_notifications_read(
    cmd: MarkAllNotificationsRead, uow: UnitOfWork
) -> CommandResult:
    """Mark every notification of the caller's up to a position read."""
    inbox = await repository.load(uow, Inbox, cmd.actor.user_id)
    inbox.mark_all_read(cmd.up_to)
    return await _saved(uow, inbox, cmd.actor.tenant_id)
