"""In-memory adapters of our ports, for unit tests: same contracts, no I/O.

One `FakeDatabase` plays the role of PostgreSQL; every `FakeUnitOfWork` opened on it sees what
earlier units committed, and a unit that fails leaves nothing behind (its writes are undone).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from app.bootstrap import handlers
from app.eventstore.idempotency import InMemoryIdempotencyStore
from app.eventstore.port import (
    AppendContext,
    EventStore,
    InMemoryEventStore,
    NewEvent,
    StoredEvent,
    TypesRead,
    new_since_read,
    unmet_conditions,
)
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import ConcurrencyError
from app.kernel.messagebus import MessageBus
from app.settings import Settings
from app.tenants.errors import EmailTakenError
from app.tenants.ports import Directory, DirectoryEntry, PasswordHasher

FIXED_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class RacingEventStore(InMemoryEventStore):
    """The in-memory store, plus a way to let "another writer" in just before the next append."""

    def __init__(self) -> None:
        super().__init__()
        self.before_next_append: Callable[[], Awaitable[object]] | None = None

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        interleave, self.before_next_append = self.before_next_append, None
        if interleave is not None:
            await interleave()
        return await super().append(
            stream_id, expected_version, events, context=context, project_id=project_id
        )


class _UnitEvents(EventStore):
    """One unit's view of the shared store: remembers what it appended, to undo it on rollback."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self.store = store
        self.written: list[StoredEvent] = []
        self.conditions: dict[str, int] = {}
        self.reads: list[TypesRead] = []

    def expect(self, stream_id: str, version: int) -> None:
        self.conditions[stream_id] = version

    def moved_conditions(self) -> list[str]:
        """The conditions' streams that moved on, checked at commit as PostgreSQL does (they
        are conditions of the unit's appends: one that appended nothing has none)."""
        if not self.written:
            return []
        written = {e.stream_id for e in self.written}
        moved = unmet_conditions(self.store.events, self.conditions, written)
        mine = {e.position for e in self.written}
        return moved + new_since_read(self.store.events, self.reads, mine)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        stored = await self.store.append(
            stream_id, expected_version, events, context=context, project_id=project_id
        )
        self.written.extend(stored)
        return stored

    async def load(
        self, stream_id: str, *, to_version: int | None = None, until: datetime | None = None
    ) -> list[StoredEvent]:
        return await self.store.load(stream_id, to_version=to_version, until=until)

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return await self.store.read_after(position, limit)

    async def read_types(
        self, tenant_id: str, types: Sequence[str], *, project_id: str | None = None
    ) -> list[StoredEvent]:
        found = self.store.find_types(tenant_id, types, project_id=project_id)
        last = found[-1].position if found else 0
        self.reads.append(TypesRead(tenant_id, frozenset(types), project_id, last))
        return found


@dataclasses.dataclass
class FakeDatabase:
    events: RacingEventStore = dataclasses.field(default_factory=RacingEventStore)
    idempotency: InMemoryIdempotencyStore = dataclasses.field(
        default_factory=InMemoryIdempotencyStore
    )
    users: dict[str, DirectoryEntry] = dataclasses.field(default_factory=dict)
    commits: int = 0


class FakeUnitOfWork(UnitOfWork):
    """Commits by keeping what was written, rolls back by restoring the state it started from."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.idempotency = db.idempotency
        self.clock = lambda: FIXED_NOW

    async def __aenter__(self) -> Self:
        self._unit_events = _UnitEvents(self.db.events)
        self.events = self._unit_events
        self._idempotency_before = dict(self.db.idempotency.records)
        self._users_before = copy.copy(self.db.users)
        self.position = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        moved = self._unit_events.moved_conditions() if exc_type is None else []
        if exc_type is None and not moved:
            written = self._unit_events.written
            self.position = written[-1].position if written else 0
            self.db.commits += 1
            return
        mine = {id(e) for e in self._unit_events.written}
        self.db.events.events[:] = [e for e in self.db.events.events if id(e) not in mine]
        self.db.idempotency.records = self._idempotency_before
        self.db.users = self._users_before
        if moved:
            raise ConcurrencyError(f"{', '.join(moved)} moved on", stream_id=",".join(moved))


class FakeDirectory(Directory):
    def __init__(self, uow: UnitOfWork) -> None:
        assert isinstance(uow, FakeUnitOfWork)
        self._db = uow.db

    async def add(self, entry: DirectoryEntry) -> None:
        if any(e.email == entry.email for e in self._db.users.values()):
            raise EmailTakenError("this e-mail is already registered", field="email")
        self._db.users[entry.user_id] = entry

    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            k: v for k, v in {"name": name, "role": role, "active": active}.items() if v is not None
        }
        self._db.users[user_id] = dataclasses.replace(self._db.users[user_id], **changes)

    async def by_email(self, email: str) -> DirectoryEntry | None:
        return next((e for e in self._db.users.values() if e.email == email), None)

    async def by_id(self, tenant_id: str, user_id: str) -> DirectoryEntry | None:
        entry = self._db.users.get(user_id)
        return entry if entry is not None and entry.tenant_id == tenant_id else None

    async def list(self, tenant_id: str) -> list[DirectoryEntry]:
        return [e for e in self._db.users.values() if e.tenant_id == tenant_id]

    async def count_active(self, tenant_id: str) -> int:
        return sum(1 for e in self._db.users.values() if e.tenant_id == tenant_id and e.active)

    async def hold_seats(self, tenant_id: str) -> int:
        return await self.count_active(tenant_id)  # one command at a time: nothing to hold


class PlainHasher(PasswordHasher):
    """Reversible on purpose: unit tests check outcomes, not argon2."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password


def fake_bus(db: FakeDatabase, *, project_limit: int = 100) -> MessageBus:
    """The real handlers, bound as `bootstrap()` binds them, over the in-memory adapters."""
    settings = Settings(
        database_url="memory://", secret_key="x" * 32, default_project_limit=project_limit
    )
    bound = handlers(directory=FakeDirectory, hasher=PlainHasher(), settings=settings)
    return MessageBus(lambda: FakeUnitOfWork(db), bound)
