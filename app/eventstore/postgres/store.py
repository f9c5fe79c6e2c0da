"""The PostgreSQL event store of one unit of work: appends queued for the commit, loads outside
any transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.eventstore.port import (
    AppendContext,
    EventStore,
    NewEvent,
    StoredEvent,
    TypesRead,
    records_for,
)
from app.eventstore.postgres.group import Command, command_of
from app.eventstore.postgres.idempotency import PendingKey
from app.eventstore.postgres.sql import (
    APPEND,
    LOAD,
    LOAD_WITH,
    LOAD_WITH_ONE,
    MOVED_STREAMS,
    NEWS_OF_TYPES,
    NEWS_OF_TYPES_OF_PROJECT,
    READ_AFTER,
    READ_TYPES,
    READ_TYPES_OF_PROJECT,
    stored_event,
)
from app.kernel.domain import ConcurrencyError

if TYPE_CHECKING:
    from app.eventstore.postgres.uow import PgUnitOfWork


@dataclasses.dataclass(frozen=True, slots=True)
class _PendingAppend:
    stream_id: str
    expected_version: int
    events: list[NewEvent]
    context: AppendContext
    project_id: str | None


class PgEventStore(EventStore):
    def __init__(self, uow: PgUnitOfWork) -> None:
        self._uow = uow
        self._prefetched: dict[str, list[StoredEvent]] = {}
        # Streams announced by `prefetch`, read with the next load that goes to the database.
        self._wanted: list[str] = []
        self._pending: list[_PendingAppend] = []
        # Streams read that must not have moved at commit (`expect`), and the streams written
        # inside the transaction (their appends replace their conditions).
        self._conditions: dict[str, int] = {}
        self._written: set[str] = set()
        # The `read_types` of this unit of work (conditions too), and the first position it
        # wrote inside its transaction (0 before it wrote).
        self._reads: list[TypesRead] = []
        self._first_position = 0
        self.last_position = 0

    @property
    def needs_transaction(self) -> bool:
        """Whether the commit must be a transaction: the group commit's batch checks stream
        versions only, not that no event of some types committed since a `read_types`."""
        return bool(self._reads) and bool(self._pending)

    @property
    def pending_tenant(self) -> str | None:
        return self._pending[0].context.tenant_id if self._pending else None

    def expect(self, stream_id: str, version: int) -> None:
        self._conditions[stream_id] = version

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        """Queue the events (written at commit, see PgUnitOfWork), or write them now inside the
        unit of work's transaction. Queued records carry position 0 until then: the committed
        position is the unit of work's `position`."""
        if not events:
            return []
        if self._uow.in_transaction:
            await self._uow.ready(context.tenant_id)
        else:
            self._uow.claim(context.tenant_id)  # written by the group commit: no session needed
        self._pending.append(
            _PendingAppend(stream_id, expected_version, events, context, project_id)
        )
        self._prefetched.pop(stream_id, None)
        if self._uow.in_transaction:
            await self.write_pending(self._uow.connection)
            first = self.last_position - len(events)
        else:
            first = -len(events)
        return records_for(
            stream_id,
            expected_version,
            events,
            context=context,
            project_id=project_id,
            after_position=first,
        )

    async def command(self, key: PendingKey | None, caller_tenant: str) -> Command | None:
        """Outside a transaction: the queued appends and the key's response as one command for
        the process's group commit (None, after writing the key alone, when nothing was
        appended). `caller_tenant` is the tenant the session's row security was bound to."""
        if not self._pending:
            if key is not None:
                await self._uow.keys.write(await self._uow.ready(key.tenant_id), key)
            return None
        pending, self._pending = self._pending, []
        tenant = pending[0].context.tenant_id
        if key is not None and key.tenant_id != tenant:
            raise PermissionError("a unit of work writes for one tenant only")
        written = {a.stream_id for a in pending}
        return command_of(
            tenant,
            caller_tenant,
            [
                (
                    a.stream_id,
                    a.expected_version,
                    a.events,
                    a.project_id,
                    orjson.dumps(a.context.metadata()).decode(),
                    a.context.recorded_at,
                )
                for a in pending
            ],
            key,
            # A stream the command appends to is guarded by that append.
            conditions={s: v for s, v in self._conditions.items() if s not in written},
        )

    async def check_conditions(self, connection: asyncpg.Connection) -> None:
        """Inside the transaction, just before COMMIT: the conditions against the committed
        streams. Once this transaction appended, it holds the head's row lock, so nothing
        else commits an event between this check and the COMMIT."""
        if not self._first_position:
            return  # wrote no event: nothing rests on the reads
        conditions = {s: v for s, v in self._conditions.items() if s not in self._written}
        moved: list[str] = []
        if conditions:
            streams, versions = list(conditions), list(conditions.values())
            moved += [r[0] for r in await connection.fetch(MOVED_STREAMS, streams, versions)]
        for read in self._reads:
            # Another command's event committed after the read and before this transaction
            # took the head (all of its own events come after that).
            arguments = (read.tenant_id, list(read.types), read.after_position)
            if read.project_id is None:
                news = await connection.fetchval(NEWS_OF_TYPES, *arguments, self._first_position)
            else:
                news = await connection.fetchval(
                    NEWS_OF_TYPES_OF_PROJECT, *arguments, self._first_position, read.project_id
                )
            if news is not None:
                moved.append(news)
        if moved:
            names = ",".join(sorted(set(moved)))
            raise ConcurrencyError(
                f"{names} moved on since this unit of work read it", stream_id=names
            )

    async def write_pending(self, connection: asyncpg.Connection) -> None:
        """Write the queued appends in one statement inside the unit of work's transaction
        (`collabspace_append`, whose head lock is then held until that transaction commits)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        streams, versions, projects, types, schemas, datas, metas, times = columns
        tenant = pending[0].context.tenant_id
        for append in pending:
            metadata = orjson.dumps(append.context.metadata()).decode()
            self._written.add(append.stream_id)
            for n, event in enumerate(append.events, start=1):
                streams.append(append.stream_id)
                versions.append(append.expected_version + n)
                projects.append(append.project_id)
                types.append(event.type)
                schemas.append(event.schema_version)
                datas.append(orjson.dumps(event.data).decode())
                metas.append(metadata)
                times.append(append.context.recorded_at)
        try:
            row = await connection.fetchrow(APPEND, tenant, *columns)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(
                "a stream moved past its expected version",
                stream_id=",".join(sorted({a.stream_id for a in pending})),
            ) from None
        self.last_position = int(row[0])
        if not self._first_position:
            self._first_position = self.last_position - len(streams) + 1

    async def load(
        self,
        stream_id: str,
        *,
        to_version: int | None = None,
        until: datetime | None = None,
        after_version: int = 0,
    ) -> list[StoredEvent]:
        records = self._prefetched.pop(stream_id, None)
        if records is not None:
            records = [e for e in records if e.version > after_version]
        else:
            records = await self._read(stream_id, after_version)
        if to_version is not None:
            records = [e for e in records if e.version <= to_version]
        if until is not None:
            cut = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
            records = [e for e in records if e.recorded_at <= cut]
        return records

    def prefetch(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            if stream_id not in self._prefetched and stream_id not in self._wanted:
                self._wanted.append(stream_id)

    async def _read(self, stream_id: str, after_version: int) -> list[StoredEvent]:
        """The stream from the database, with the announced streams in the same statement
        (kept until they are loaded; a stream without events is kept as empty)."""
        connection = await self._uow.ready()
        wanted = [s for s in self._wanted if s != stream_id]
        self._wanted.clear()
        if not wanted:
            return [stored_event(r) for r in await connection.fetch(LOAD, stream_id, after_version)]
        for other in wanted:
            self._prefetched[other] = []
        if len(wanted) == 1:
            rows = await connection.fetch(LOAD_WITH_ONE, stream_id, after_version, wanted[0])
        else:
            rows = await connection.fetch(LOAD_WITH, stream_id, after_version, wanted)
        records = []
        for row in rows:
            event = stored_event(row)
            if event.stream_id == stream_id:
                records.append(event)
            else:
                self._prefetched[event.stream_id].append(event)
        return records

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        connection = await self._uow.ready()
        return [stored_event(r) for r in await connection.fetch(READ_AFTER, position, limit)]

    async def read_types(
        self, tenant_id: str, types: Sequence[str], *, project_id: str | None = None
    ) -> list[StoredEvent]:
        connection = await self._uow.ready()
        if project_id is None:
            rows = await connection.fetch(READ_TYPES, tenant_id, list(types))
        else:
            rows = await connection.fetch(READ_TYPES_OF_PROJECT, tenant_id, list(types), project_id)
        found = [stored_event(r) for r in rows]
        last = found[-1].position if found else 0
        self._reads.append(TypesRead(tenant_id, frozenset(types), project_id, last))
        return found
