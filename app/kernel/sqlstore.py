"""The SQL event store adapter (PostgreSQL in production, SQLite embedded).

Appends are serialised and positions are allocated under that serialisation, so commit order
equals position order and positions have no holes: a reader tailing `position > checkpoint` can
never miss an event that commits late with a lower position (DESIGN.md, "Global position is the
spine"). On PostgreSQL the serialisation is the row lock of the one-row `event_head` counter,
taken by the append statement itself and held until COMMIT (shared with `app.kernel.pgstore`);
on SQLite it is a process lock and positions are max+1.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.kernel.db import event as event_table
from app.kernel.domain import ConcurrencyError
from app.kernel.eventstore import AppendContext, EventStore, NewEvent, StoredEvent, records_for

# Formerly the pg_advisory_xact_lock key of appends ("CoSp" in ASCII); appends now lock the
# `event_head` row instead. Kept for tools that still name it.
APPEND_LOCK_KEY = 0x436F5370
NOTIFY_CHANNEL = "collabspace_events"


# PostgreSQL append in one statement: `UPDATE event_head` locks the counter row until COMMIT
# (serialising appends) and, in READ COMMITTED, re-reads the latest committed head after
# waiting for that lock; the NOTIFY rides along and is delivered only if the transaction commits.
_PG_APPEND = sa.text(
    """
    WITH head AS (
        UPDATE event_head SET position = position + :count WHERE id = 1
        RETURNING position - :count AS p
    ),
    written AS (
        INSERT INTO event (position, stream_id, version, tenant_id, project_id, type,
                           schema_version, data, metadata, recorded_at)
        SELECT head.p + e.n, :stream_id, :expected + e.n, :tenant_id, :project_id, e.type,
               e.schema_version, e.data::jsonb, :metadata, :recorded_at
        FROM head,
             unnest(:types, :schema_versions, :datas)
                 WITH ORDINALITY AS e(type, schema_version, data, n)
        RETURNING position
    )
    SELECT max(position), pg_notify(:channel, max(position)::text) FROM written
    """
).bindparams(
    sa.bindparam("stream_id", type_=sa.String),
    sa.bindparam("expected", type_=sa.Integer),
    sa.bindparam("tenant_id", type_=sa.Uuid),
    sa.bindparam("project_id", type_=sa.Uuid),
    sa.bindparam("metadata", type_=postgresql.JSONB),
    sa.bindparam("recorded_at", type_=sa.DateTime(timezone=True)),
    sa.bindparam("types", type_=postgresql.ARRAY(sa.Text)),
    sa.bindparam("schema_versions", type_=postgresql.ARRAY(sa.SmallInteger)),
    sa.bindparam("datas", type_=postgresql.ARRAY(sa.Text)),
    sa.bindparam("channel", type_=sa.Text),
    sa.bindparam("count", type_=sa.BigInteger),
)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class AppendLock(Protocol):
    async def acquire(self, connection: AsyncConnection) -> None: ...

    def release(self) -> None: ...


class PostgresAppendLock:
    """Nothing to take ahead: the append statement locks the `event_head` row itself."""

    async def acquire(self, connection: AsyncConnection) -> None:
        return None

    def release(self) -> None:
        return None


class ProcessAppendLock:
    """For SQLite, where one process owns the file: an asyncio lock held until the UoW ends."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._held = False

    async def acquire(self, connection: AsyncConnection) -> None:
        await self._lock.acquire()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


def _as_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_stored(row: Any) -> StoredEvent:
    return StoredEvent(
        position=row.position,
        stream_id=row.stream_id,
        version=row.version,
        tenant_id=str(row.tenant_id),
        project_id=None if row.project_id is None else str(row.project_id),
        type=row.type,
        schema_version=row.schema_version,
        data=row.data,
        metadata=row.metadata,
        recorded_at=_utc(row.recorded_at),
    )


def _row(e: StoredEvent) -> dict[str, Any]:
    return {
        "position": e.position,
        "stream_id": e.stream_id,
        "version": e.version,
        "tenant_id": uuid.UUID(e.tenant_id),
        "project_id": _as_uuid(e.project_id),
        "type": e.type,
        "schema_version": e.schema_version,
        "data": e.data,
        "metadata": e.metadata,
        "recorded_at": e.recorded_at,
    }


class SqlEventStore(EventStore):
    """Event store bound to one connection and its open transaction."""

    def __init__(self, connection: AsyncConnection, lock: AppendLock) -> None:
        self._connection = connection
        self._lock = lock
        self._locked = False
        self.last_position = 0

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        if not events:
            return []
        if not self._locked:
            await self._lock.acquire(self._connection)
            self._locked = True
        if self._connection.dialect.name == "postgresql":
            return await self._append_postgres(
                stream_id, expected_version, events, context, project_id
            )
        head = int(
            await self._connection.scalar(
                sa.select(sa.func.coalesce(sa.func.max(event_table.c.position), 0))
            )
            or 0
        )
        stored = records_for(
            stream_id,
            expected_version,
            events,
            context=context,
            project_id=project_id,
            after_position=head,
        )
        try:
            await self._connection.execute(event_table.insert(), [_row(e) for e in stored])
        except IntegrityError:
            raise ConcurrencyError(
                f"{stream_id} moved past version {expected_version}", stream_id=stream_id
            ) from None
        self.last_position = stored[-1].position
        return stored

    async def _append_postgres(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        context: AppendContext,
        project_id: str | None,
    ) -> list[StoredEvent]:
        """Read the head, insert and notify in one round trip: the lock is held for less time."""
        metadata = context.metadata()
        try:
            last = await self._connection.scalar(
                _PG_APPEND,
                {
                    "stream_id": stream_id,
                    "expected": expected_version,
                    "tenant_id": uuid.UUID(context.tenant_id),
                    "project_id": _as_uuid(project_id),
                    "metadata": metadata,
                    "recorded_at": context.recorded_at,
                    "types": [e.type for e in events],
                    "schema_versions": [e.schema_version for e in events],
                    "datas": [_json(e.data) for e in events],
                    "channel": NOTIFY_CHANNEL,
                    "count": len(events),
                },
            )
        except IntegrityError:
            raise ConcurrencyError(
                f"{stream_id} moved past version {expected_version}", stream_id=stream_id
            ) from None
        self.last_position = int(last)
        first = self.last_position - len(events)
        return records_for(
            stream_id,
            expected_version,
            events,
            context=context,
            project_id=project_id,
            after_position=first,
        )

    async def load(
        self,
        stream_id: str,
        *,
        to_version: int | None = None,
        until: datetime | None = None,
        after_version: int = 0,
    ) -> list[StoredEvent]:
        query = event_table.select().where(event_table.c.stream_id == stream_id)
        if after_version:
            query = query.where(event_table.c.version > after_version)
        if to_version is not None:
            query = query.where(event_table.c.version <= to_version)
        if until is not None:
            query = query.where(event_table.c.recorded_at <= until)
        result = await self._connection.execute(query.order_by(event_table.c.version))
        return [to_stored(row) for row in result]

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return await read_after(self._connection, position, limit)


async def read_after(connection: AsyncConnection, position: int, limit: int) -> list[StoredEvent]:
    query = (
        event_table.select()
        .where(event_table.c.position > position)
        .order_by(event_table.c.position)
        .limit(limit)
    )
    return [to_stored(row) for row in await connection.execute(query)]


async def head_position(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        value = await connection.scalar(
            sa.select(sa.func.coalesce(sa.func.max(event_table.c.position), 0))
        )
    return int(value or 0)
