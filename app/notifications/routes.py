"""HTTP endpoints of the notifications context: the caller's own inbox, and marking it read."""

from __future__ import annotations

from typing import Any

from app.kernel.db import scope_to_tenant, snapshot
from app.kernel.problems import HttpProblem
from app.kernel.web import (
    Api,
    Call,
    MutationResult,
    ReadParams,
    Reply,
    execute,
    query_read_model,
)
from app.notifications import views
from app.notifications.commands import MarkAllNotificationsRead, MarkNotificationRead
from app.notifications.schemas import InboxOut, InboxParams, ReadAllBody, UnreadOut

api = Api("notifications")


@api.route(
    "GET",
    "/notifications",
    summary="The caller's notifications, newest first (page on with ?before=next_before)",
    query=InboxParams,
    response=InboxOut,
    errors=(401, 422),
)
async def list_notifications(call: Call[None, InboxParams]) -> Reply:
    q = call.query
    return await query_read_model(
        call, views.inbox, call.actor, before=q.before, limit=q.limit, unread_only=q.unread_only
    )


@api.route(
    "GET",
    "/notifications/unread-count",
    summary="How many of the caller's notifications are unread (the bell)",
    query=ReadParams,
    response=UnreadOut,
    errors=(401, 422),
)
async def unread_count(call: Call[None, ReadParams]) -> Reply:
    return await query_read_model(call, views.unread, call.actor)


def _notification_id(call: Call[Any, Any]) -> int:
    raw = call.path("notification_id")
    if not raw.isdigit() or len(raw) > 18:
        raise HttpProblem(404, "not_found", f"no notification {raw[:30]!r}")
    return int(raw)


@api.route(
    "POST",
    "/notifications/{notification_id}/read",
    summary="Mark one of the caller's notifications read (recorded as an event)",
    response=MutationResult,
    errors=(401, 404, 409),
)
async def mark_read(call: Call[None, None]) -> Reply:
    notification_id = _notification_id(call)
    async with snapshot(call.services.engine) as connection:
        await scope_to_tenant(connection, call.actor.tenant_id)
        await views.require_mine(connection, call.actor, notification_id)
    return await execute(call, MarkNotificationRead(call.actor, notification_id))


@api.route(
    "POST",
    "/notifications/read-all",
    summary="Mark every notification of the caller's read, up to an id (recorded as an event)",
    body=ReadAllBody,
    response=MutationResult,
    errors=(401, 409, 422),
)
async def mark_all_read(call: Call[ReadAllBody, None]) -> Reply:
    async with snapshot(call.services.engine) as connection:
        await scope_to_tenant(connection, call.actor.tenant_id)
        newest = await views.newest(connection, call.actor)
    # Never past the newest the inbox holds: a mark beyond it would make the Inbox take
    # notifications still to come for read, and their own "mark read" would record nothing.
    up_to = newest if call.body.up_to is None else min(call.body.up_to, newest)
    return await execute(call, MarkAllNotificationsRead(call.actor, up_to))
