"""Realtime tickets and the read rule: verified locally (HS256), no database or Redis round trip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from realtime.protocol import Channel

ROLES = frozenset({"owner", "admin", "member"})
ADMIN_ROLES = frozenset({"owner", "admin"})
# Small clock skew between API and gateway hosts must not refuse fresh tickets.
LEEWAY_S = 5


class TicketError(Exception):
    """A ticket that does not admit its bearer; `expired` tells re-authentication from refusal."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Ticket:
    user: str
    tenant: str
    role: str
    name: str
    projects: frozenset[str]
    jti: str
    expires_at: int


def verify_ticket(token: str, secret: str) -> Ticket:
    """Check signature (HS256 only), expiry, `typ` and every claim's type; raise TicketError."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TicketError("ticket expired", expired=True) from None
    except jwt.InvalidTokenError as exc:
        raise TicketError(f"invalid ticket: {type(exc).__name__}") from None
    if claims.get("typ") != "realtime":
        raise TicketError("invalid ticket: not a realtime ticket")
    projects = claims.get("projects")
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise TicketError("invalid ticket: projects must be a list of ids")
    for key in ("sub", "tid", "name", "jti"):
        if not isinstance(claims.get(key), str) or not claims[key]:
            raise TicketError(f"invalid ticket: claim {key!r} missing")
    if claims.get("role") not in ROLES:
        raise TicketError("invalid ticket: unknown role")
    return Ticket(
        user=claims["sub"],
        tenant=claims["tid"],
        role=claims["role"],
        name=claims["name"],
        projects=frozenset(p.lower() for p in projects),
        jti=claims["jti"],
        expires_at=int(claims["exp"]),
    )


@dataclass(slots=True)
class Access:
    """What one connected user may read now: the ticket's snapshot, updated by access events."""

    role: str
    # Shared with the ticket and replaced (not mutated) on change: most users never change
    # membership while connected, and a set per idle connection is memory for nothing.
    projects: frozenset[str] = frozenset()
    user: str = ""  # the ticket's user: the only one who may read their notifications

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> Access:
        return cls(ticket.role, ticket.projects, ticket.user.lower())

    def add_project(self, project: str) -> None:
        self.projects = self.projects | {project}

    def remove_project(self, project: str) -> None:
        self.projects = self.projects - {project}

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    def may_read(self, channel: Channel) -> bool:
        """The REST rule: admins read the whole tenant; members read the projects they are in.
        A notifications channel is its user's alone, whatever the role (like GET /notifications)."""
        if channel.kind == "notifications":
            return bool(self.user) and channel.user == self.user
        if self.is_admin:
            return True
        return channel.kind == "project" and channel.project in self.projects
