"""The lean PostgreSQL write path: the unit of work, event store and idempotency store on raw
asyncpg connections, with hand-written SQL.

Same ports as the SQLAlchemy adapters (`UnitOfWork`, `EventStore`, `IdempotencyStore`), which
remain the path for the embedded SQLite default. Per command it costs four round trips:

1. `BEGIN; SELECT set_config('app.tenant_id', ...)` (one simple-protocol message),
2. load the aggregate's stream, together with the stream of the project it belongs to (the
   handler checks project access next; that load is then answered from memory),
3. allocate positions, insert the events and queue the NOTIFY: one statement (see _APPEND),
4. COMMIT.

Positions are allocated by `UPDATE event_head SET position = position + n`: its row lock
serialises appends until COMMIT and the update re-reads the latest committed head, so commit
order equals position order and positions have no holes (DESIGN.md, "Global position is the
spine"). The SQLAlchemy PostgreSQL path allocates from the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.kernel.clock import Clock, utc_now
from app.kernel.domain import ConcurrencyError
from app.kernel.eventstore import AppendContext, EventStore, NewEvent, StoredEvent, records_for
from app.kernel.idempotency import IdempotencyRecord, IdempotencyStore
from app.kernel.uow import UnitOfWork

NOTIFY_CHANNEL = "collabspace_events"
PROJECT_STREAM_PREFIX = "project-"

_COLUMNS = (
    "position, stream_id, version, tenant_id::text, project_id::text, type, schema_version,"
    " data::text, metadata::text, recorded_at"
)

_LOAD = f"SELECT {_COLUMNS} FROM event WHERE stream_id = $1 ORDER BY version"

# A stream and the stream of the project its events belong to, in one round trip.
_LOAD_WITH_PROJECT = f"""
SELECT {_COLUMNS} FROM event WHERE stream_id = $1
UNION ALL
SELECT {_COLUMNS} FROM event
WHERE stream_id = (
    SELECT 'project-' || project_id::text FROM event
    WHERE stream_id = $1 AND project_id IS NOT NULL ORDER BY version LIMIT 1
)
ORDER BY 2, 3
"""

_APPEND = f"""
WITH head AS (
    UPDATE event_head SET position = position + $9 WHERE id = 1 RETURNING position - $9 AS p
),
written AS (
    INSERT INTO event (position, stream_id, version, tenant_id, project_id, type,
                       schema_version, data, metadata, recorded_at)
    SELECT head.p + e.n, $1, $2 + e.n, $3::uuid, $4::uuid, e.type, e.schema_version,
           e.data::jsonb, $5::jsonb, $6
    FROM head, unnest($7::text[], $8::int2[], $10::text[])
        WITH ORDINALITY AS e(type, schema_version, data, n)
    RETURNING position
)
SELECT max(position), pg_notify('{NOTIFY_CHANNEL}', max(position)::text) FROM written
"""

_READ_AFTER = f"SELECT {_COLUMNS} FROM event WHERE position > $1 ORDER BY position LIMIT $2"

_IDEMPOTENCY_GET = (
    "SELECT request_hash, status, body::text FROM idempotency_key"
    " WHERE tenant_id = $1::uuid AND user_id = $2::uuid AND key = $3"
)
_IDEMPOTENCY_PUT = (
    "INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash, status, body,"
    " created_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::jsonb, $7)"
)

# Errors that mean "the database is not there", answered 503 by the API.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    # "another operation is in progress": a session left mid-protocol by a killed backend or
    # a cancelled request; unusable, so it is dropped, and the request is a 503, not a bug.
    asyncpg.exceptions.InternalClientError,
)


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN for a SQLAlchemy `postgresql+asyncpg://` URL."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _stored(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(
        position=row[0],
        stream_id=row[1],
        version=row[2],
        tenant_id=row[3],
        project_id=row[4],
        type=row[5],
        schema_version=row[6],
        data=orjson.loads(row[7]),
        metadata=orjson.loads(row[8]),
        recorded_at=row[9],
    )


async def _reset(connection: asyncpg.Connection) -> None:
    # asyncpg's default reset costs a round trip per release (RESET ALL, UNLISTEN, ...). These
    # connections never LISTEN, never hold session locks and never set session state: every
    # setting is transaction-local, so ending the transaction is the whole reset.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class PgPool:
    """An asyncpg pool opened on first use (inside the running loop) and closed by the owner."""

    def __init__(self, url: str, *, size: int = 10) -> None:
        self._dsn = asyncpg_dsn(url)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._size,
                        reset=_reset,
                        # No JIT for these small statements: it only costs planning time.
                        server_settings={"jit": "off", "TimeZone": "UTC"},
                    )
        return self._pool

    async def acquire(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await (await self.pool()).acquire()
        return connection

    @contextlib.asynccontextmanager
    async def autocommit(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection outside any transaction, for one-statement reads whose
        statement scopes itself to its tenant (such as `collabspace_dashboard`)."""
        connection = await self.acquire()
        try:
            yield connection
        except BaseException:
            # Failed or cancelled mid-statement: the session may be mid-protocol; drop it.
            connection.terminate()
            raise
        finally:
            await self.release(connection)

    async def release(self, connection: asyncpg.Connection) -> None:
        if self._pool is not None:
            await self._pool.release(connection)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _uuid_literal(value: str) -> str:
    # Only ever a canonical UUID goes into the simple-protocol BEGIN message.
    return str(uuid.UUID(value))


class PgUnitOfWork(UnitOfWork):
    """One transaction on one pooled asyncpg connection, begun with the first statement."""

    connection: asyncpg.Connection

    def __init__(
        self,
        pool: PgPool,
        *,
        clock: Clock = utc_now,
        on_commit: Callable[[int], None] | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self.clock = clock
        self.tenant_id = tenant_id

    async def __aenter__(self) -> Self:
        self.connection = await self._pool.acquire()
        self._begun = False
        self._bound: str | None = None
        self._store = PgEventStore(self)
        self.events = self._store
        self.idempotency = PgIdempotencyStore(self)
        self.position = 0
        return self

    async def ready(self, tenant_id: str | None = None) -> asyncpg.Connection:
        """The connection, inside the transaction, with the tenant setting for row security.

        The tenant is the caller's (`meta.tenant_id` or the factory's), else the first one a
        write names (sign-up creates its tenant). A unit of work serves exactly one tenant.
        """
        # The caller's tenant binds first; a tenant named by a write must then be the same.
        wanted = self.tenant_id or self.meta.tenant_id or tenant_id
        if not self._begun:
            if wanted is None:
                # Explicitly no tenant: row security then shows nothing, whatever the session.
                await self.connection.execute("BEGIN; SELECT set_config('app.tenant_id', '', true)")
            else:
                await self.connection.execute(
                    f"BEGIN; SELECT set_config('app.tenant_id', '{_uuid_literal(wanted)}', true)"
                )
                self._bound = wanted
            self._begun = True
        if wanted is not None and self._bound is None:
            await self.connection.execute(
                "SELECT set_config('app.tenant_id', $1, true)", _uuid_literal(wanted)
            )
            self._bound = wanted
        if tenant_id is not None and self._bound is not None and tenant_id != self._bound:
            raise PermissionError("a unit of work writes for one tenant only")
        return self.connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._begun:
                if exc_type is None:
                    written = self._store.last_position
                    await self.connection.execute("COMMIT")
                    self.position = written
                elif not self.connection.is_closed():
                    try:
                        await self.connection.execute("ROLLBACK")
                    except Exception:
                        # Mid-statement (a cancelled request) or broken: drop the session,
                        # which rolls back, rather than hide the original error.
                        self.connection.terminate()
        finally:
            if isinstance(exc, CONNECTION_ERRORS):
                # A broken session must not go back to the pool for the next request.
                self.connection.terminate()
            try:
                await self._pool.release(self.connection)
            except Exception:
                self.connection.terminate()
        if self.position and self._on_commit is not None:
            self._on_commit(self.position)


class PgEventStore(EventStore):
    def __init__(self, uow: PgUnitOfWork) -> None:
        self._uow = uow
        self._prefetched: dict[str, list[StoredEvent]] = {}
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
        connection = await self._uow.ready(context.tenant_id)
        metadata = context.metadata()
        try:
            last = await connection.fetchval(
                _APPEND,
                stream_id,
                expected_version,
                context.tenant_id,
                project_id,
                orjson.dumps(metadata).decode(),
                context.recorded_at,
                [e.type for e in events],
                [e.schema_version for e in events],
                len(events),
                [orjson.dumps(e.data).decode() for e in events],
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(
                f"{stream_id} moved past version {expected_version}", stream_id=stream_id
            ) from None
        self._prefetched.pop(stream_id, None)
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
    ) -> list[StoredEvent]:
        records = self._prefetched.pop(stream_id, None)
        if records is None:
            connection = await self._uow.ready()
            if stream_id.startswith(PROJECT_STREAM_PREFIX):
                records = [_stored(r) for r in await connection.fetch(_LOAD, stream_id)]
            else:
                # Whoever loads a task next checks access to its project: fetch both at once.
                records = []
                for row in await connection.fetch(_LOAD_WITH_PROJECT, stream_id):
                    event = _stored(row)
                    if event.stream_id == stream_id:
                        records.append(event)
                    else:
                        self._prefetched.setdefault(event.stream_id, []).append(event)
        if to_version is not None:
            records = [e for e in records if e.version <= to_version]
        if until is not None:
            cut = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
            records = [e for e in records if e.recorded_at <= cut]
        return records

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        connection = await self._uow.ready()
        return [_stored(r) for r in await connection.fetch(_READ_AFTER, position, limit)]


class PgIdempotencyStore(IdempotencyStore):
    def __init__(self, uow: PgUnitOfWork) -> None:
        self._uow = uow

    async def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyRecord | None:
        connection = await self._uow.ready(tenant_id)
        row = await connection.fetchrow(_IDEMPOTENCY_GET, tenant_id, user_id, key)
        return None if row is None else IdempotencyRecord(row[0], row[1], orjson.loads(row[2]))

    async def put(
        self, tenant_id: str, user_id: str, key: str, record: IdempotencyRecord, at: datetime
    ) -> None:
        connection = await self._uow.ready(tenant_id)
        try:
            await connection.execute(
                _IDEMPOTENCY_PUT,
                tenant_id,
                user_id,
                key,
                record.request_hash,
                record.status,
                orjson.dumps(record.body).decode(),
                at,
            )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError("idempotency key used concurrently", key=key) from None


def pg_uow_factory(
    pool: PgPool,
    *,
    clock: Clock = utc_now,
    on_commit: Callable[[int], None] | None = None,
) -> Callable[..., PgUnitOfWork]:
    def make(tenant_id: str | None = None) -> PgUnitOfWork:
        return PgUnitOfWork(pool, clock=clock, on_commit=on_commit, tenant_id=tenant_id)

    return make
