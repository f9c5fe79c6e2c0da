"""Access events on a user's channel, applied at once to that user's connections on this node."""

from __future__ import annotations

import logging

from realtime import live, protocol
from realtime.auth import ROLES
from realtime.context import Context
from realtime.envelope import Envelope
from realtime.state import Session

log = logging.getLogger("realtime.access")


def apply_access_event(ctx: Context, sessions: list[Session], env: Envelope) -> None:
    """Update each session's rights and drop the subscriptions it may no longer read."""
    data = env.data
    target = data.get("user_id") or env.user
    project = data.get("project_id")
    for s in sessions:
        if s.user != target:
            continue
        if env.type == "UserDeactivated":
            ctx.fanout.kick(s, protocol.CloseCode.POLICY, "user deactivated", "deactivated")
        elif env.type == "ProjectMemberAdded" and isinstance(project, str):
            s.access.add_project(project.lower())
        elif env.type == "ProjectMemberRemoved" and isinstance(project, str):
            s.access.remove_project(project.lower())
            _revoke(ctx, s, env.position)
        elif env.type == "UserRoleChanged" and data.get("role") in ROLES:
            s.access.role = data["role"]
            _revoke(ctx, s, env.position)


def _revoke(ctx: Context, s: Session, position: int) -> None:
    for name, channel in list(s.channels.items()):
        if s.access.may_read(channel):
            continue
        del s.channels[name]
        ctx.metrics.subscriptions.dec()
        ctx.fanout.leave(s, name)
        live.presence_leave(ctx, s, channel)
        # Written at once: we are in synchronous code (the broker callback), and this notice
        # must be ordered after every event already written to this socket.
        s.ws.write(protocol.unsubscribed(channel.name, "access_revoked", position))
