"""The user directory port: login lookups and unique e-mails, kept beside the user events.

Password hashes live only here, never in an event (events are forever and get published).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor


@dataclasses.dataclass(frozen=True, slots=True)
class DirectoryEntry:
    user_id: str
    tenant_id: str
    email: str
    name: str
    role: str
    active: bool
    password_hash: str


class Directory(abc.ABC):
    @abc.abstractmethod
    async def add(self, entry: DirectoryEntry) -> None:
        """Add a user; an e-mail already taken raises EmailTakenError."""

    @abc.abstractmethod
    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> None: ...

    @abc.abstractmethod
    async def by_email(self, email: str) -> DirectoryEntry | None: ...

    @abc.abstractmethod
    async def by_id(self, tenant_id: str, user_id: str) -> DirectoryEntry | None: ...

    @abc.abstractmethod
    async def list(self, tenant_id: str) -> list[DirectoryEntry]: ...

    @abc.abstractmethod
    async def count_active(self, tenant_id: str) -> int:
        """How many of the tenant's users are active (what the plan's member limit counts)."""

    @abc.abstractmethod
    async def hold_seats(self, tenant_id: str) -> int:
        """`count_active`, holding the tenant's seats until this command commits: a concurrent
        command that holds them too waits, then counts what this one added."""


DirectoryFactory = Callable[[UnitOfWork], Directory]


class PasswordHasher(abc.ABC):
    @abc.abstractmethod
    def hash(self, password: str) -> str: ...

    @abc.abstractmethod
    def verify(self, password_hash: str, password: str) -> bool: ...


# The projects a user is a member of, sorted, read on a read-model connection (connection,
# tenant id, user id): what a realtime ticket lists. The projects context answers it; the
# composition root binds it, so that tenants does not import projects.
ProjectsOfUser = Callable[[Any, str, str], Awaitable[list[str]]]


# A user is deactivated: end their project memberships and task assignments in the caller's
# unit of work (unit of work, the deactivating actor, user id). The projects context answers
# (`projects.api.release_user`); the composition root binds it.
ReleaseUser = Callable[[UnitOfWork, Actor, str], Awaitable[None]]
