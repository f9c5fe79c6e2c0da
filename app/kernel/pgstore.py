"""The lean PostgreSQL write path: the unit of work, event store and idempotency store on raw
asyncpg connections, with hand-written SQL.

The one adapter of the ports `UnitOfWork`, `EventStore` and `IdempotencyStore` (beside the
in-memory fakes of the unit tests). A typical command costs two round trips and holds no lock
across the network:

1. load the aggregate's stream, together with the stream of the project it belongs to (the
   handler checks project access next; that load is then answered from memory). Reads run
   outside any transaction, under row-level security for the tenant the session is bound to
   (a session-level `app.tenant_id`, set only when the pooled session served another tenant);
2. at commit, allocate positions, insert every event the command wrote (and its
   Idempotency-Key response), and queue the NOTIFY: one statement (see _APPEND), which is its
   own transaction.

Positions are allocated by `UPDATE event_head SET position = position + n` (inside the
`collabspace_append` function of migration 0006, the only way the app role may append): its row lock
serialises appends until the statement's commit and the update re-reads the latest committed
head, so commit order equals position order and positions have no holes (DESIGN.md, "Global
position is the spine"). Because that statement commits by itself, the lock is held for the
statement and its WAL flush only, never across a round trip to this process, whose event loop
may be busy with other requests.

Commands that also write other tables (the user directory: sign-up, invitations, user changes)
open a real transaction at their first such write; their appends then run inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.kernel.clock import Clock, utc_now
from app.kernel.domain import ConcurrencyError
from app.kernel.eventstore import AppendContext, EventStore, NewEvent, StoredEvent, records_for
from app.kernel.idempotency import IdempotencyRecord, IdempotencyStore
from app.kernel.snapshots import SnapshotCache
from app.kernel.uow import UnitOfWork

NOTIFY_CHANNEL = "collabspace_events"
PROJECT_STREAM_PREFIX = "project-"

_COLUMNS = (
    "position, stream_id, version, tenant_id::text, project_id::text, type, schema_version,"
    " data::text, metadata::text, recorded_at"
)

_LOAD = f"SELECT {_COLUMNS} FROM event WHERE stream_id = $1 AND version > $2 ORDER BY version"

# A stream (from a version on) and the whole stream of the project its events belong to, in one
# round trip. The project is named by the stream's first event: an exact (stream_id, version)
# lookup, so no plan (not even a generic one cached while the table was small) scans the stream.
_LOAD_WITH_PROJECT = f"""
SELECT {_COLUMNS} FROM event WHERE stream_id = $1 AND version > $2
UNION ALL
SELECT {_COLUMNS} FROM event
WHERE stream_id = (
    SELECT 'project-' || project_id::text FROM event WHERE stream_id = $1 AND version = 1
)
ORDER BY 2, 3
"""

# Every event a unit of work wrote, across its streams, in one statement; $1..$9 are arrays with
# one element per event. `collabspace_append` (migration 0006) allocates the positions under the
# head's row lock and inserts them: the app role may not touch `event_head` or insert events
# itself. Run on its own the statement is its own transaction (see the module docstring).
_WRITTEN = """
WITH last AS (
    SELECT collabspace_append($1::uuid, $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::int2[], $7::text[], $8::text[], $9::timestamptz[]) AS position
)
"""
_NOTIFY = f"SELECT position, pg_notify('{NOTIFY_CHANNEL}', position::text) FROM last"
_APPEND = _WRITTEN + _NOTIFY
# The same, also storing the Idempotency-Key's response, whose "position" only this statement
# knows: it is stamped into the stored body here.
_APPEND_WITH_KEY = (
    _WRITTEN
    + """, kept AS (
    INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash, status, body, created_at)
    SELECT $1::uuid, $10::uuid, $11, $12, $13,
           jsonb_set($14::jsonb, '{position}', to_jsonb(last.position)), $15
    FROM last
)
"""
    + _NOTIFY
)
_SET_TENANT = "SELECT set_config('app.tenant_id', $1, false)"

READ_AFTER = f"SELECT {_COLUMNS} FROM event WHERE position > $1 ORDER BY position LIMIT $2"
# Events of some types in a position range (a projection's batch): (after, upto], types.
_RANGE = (
    f"SELECT {_COLUMNS} FROM event WHERE position > $1 AND position <= $2"
    " AND type = ANY($3::text[])"
)
READ_RANGE = _RANGE + " ORDER BY position"
# The same for the tenants one of $4 partitions holds ($5: which; a partitioned rebuild).
READ_RANGE_OF_PARTITION = (
    _RANGE + " AND (hashtext(tenant_id::text) & 2147483647) % $4 = $5 ORDER BY position"
)
HEAD = "SELECT coalesce(max(position), 0) FROM event"

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

# A session that failed this way, or was interrupted mid-statement, never goes back to the pool.
_BROKEN = (*CONNECTION_ERRORS, asyncio.CancelledError)


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN for a SQLAlchemy `postgresql+asyncpg://` URL."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def stored_event(row: asyncpg.Record) -> StoredEvent:
    """A row of READ_AFTER, READ_RANGE or the loads (same columns) as a StoredEvent."""
    # Positional: rebuilds and the projections' feed decode every event of the store here.
    position, stream_id, version, tenant, project, type_, schema, data, metadata, at = row
    return StoredEvent(
        position,
        stream_id,
        version,
        tenant,
        project,
        type_,
        schema,
        orjson.loads(data),
        orjson.loads(metadata),
        at,
    )


class TenantSession(asyncpg.Connection):  # type: ignore[misc]
    """A pooled session that remembers which tenant its session-level `app.tenant_id` names.

    Binding costs a round trip only when the session last served another tenant. The memory
    is cleared whenever it may be wrong: a rolled-back transaction reverts a setting made in it.
    """

    __slots__ = ("_tenant",)

    def bound_tenant(self) -> str | None:
        return getattr(self, "_tenant", None)

    def remember_tenant(self, tenant: str | None) -> None:
        self._tenant = tenant


async def _reset(connection: asyncpg.Connection) -> None:
    # asyncpg's default reset costs a round trip per release (RESET ALL, UNLISTEN, ...). These
    # sessions never LISTEN and never hold session locks; their one session setting, the
    # tenant, is re-bound by every unit of work before its first statement (`ready`), so
    # ending a leftover transaction is the whole reset.
    if connection.is_in_transaction():
        connection.remember_tenant(None)
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
                        connection_class=TenantSession,
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
    # Tenants are bound by their canonical UUID text, as the row policies compare it.
    return str(uuid.UUID(value))


@dataclasses.dataclass(frozen=True, slots=True)
class _PendingKey:
    """An Idempotency-Key response to store with the events, in the same statement."""

    tenant_id: str
    user_id: str
    key: str
    record: IdempotencyRecord
    at: datetime

    def params(self) -> tuple[Any, ...]:
        """user, key, request hash, status, body (JSON text), time: as both statements take."""
        record = self.record
        body = orjson.dumps(record.body).decode()
        return (self.user_id, self.key, record.request_hash, record.status, body, self.at)


class PgUnitOfWork(UnitOfWork):
    """One command's reads and writes on one pooled asyncpg session.

    Reads run as they come, outside a transaction. Appends wait for the exit and are then
    written, with the Idempotency-Key response, by one self-committing statement. A write to
    another table (`begin`) opens a real transaction instead, holding any waiting appends and
    every later one, committed at the exit.
    """

    connection: asyncpg.Connection

    def __init__(
        self,
        pool: PgPool,
        *,
        clock: Clock = utc_now,
        on_commit: Callable[[int], None] | None = None,
        tenant_id: str | None = None,
        snapshots: SnapshotCache | None = None,
    ) -> None:
        self._pool = pool
        self._on_commit = on_commit
        self.clock = clock
        self.tenant_id = tenant_id
        self.snapshots = snapshots

    @property
    def in_transaction(self) -> bool:
        """Whether a write to another table opened a real transaction (`begin`)."""
        return self._in_transaction

    def snapshot_tenant(self) -> str | None:
        # Inside a transaction a read may see this unit of work's own uncommitted events, which
        # must never become a snapshot; outside one, every read sees committed events only.
        if self.snapshots is None or self._in_transaction:
            return None
        return self.tenant_id or self.meta.tenant_id

    async def __aenter__(self) -> Self:
        self.connection = await self._pool.acquire()
        self._in_transaction = False
        self._bound: str | None = None
        self._store = PgEventStore(self)
        self.events = self._store
        self.idempotency = self.keys = PgIdempotencyStore(self)
        self.pending_key: _PendingKey | None = None
        self.position = 0
        return self

    async def ready(self, tenant_id: str | None = None) -> asyncpg.Connection:
        """The session, bound to the tenant for row security.

        The tenant is the caller's (`meta.tenant_id` or the factory's), else the first one a
        write names (sign-up creates its tenant); until one is known the session is bound to
        no tenant, and row security shows nothing. A unit of work serves exactly one tenant.
        """
        # The caller's tenant binds first; a tenant named by a write must then be the same.
        wanted = self.tenant_id or self.meta.tenant_id or tenant_id
        if self._bound is None or (wanted is not None and self._bound == ""):
            target = "" if wanted is None else _uuid_literal(wanted)
            if self.connection.bound_tenant() != target:
                await self.connection.execute(_SET_TENANT, target)
                self.connection.remember_tenant(target)
            self._bound = target
        if tenant_id is not None and self._bound and tenant_id != self._bound:
            raise PermissionError("a unit of work writes for one tenant only")
        return self.connection

    async def begin(self, tenant_id: str | None = None) -> asyncpg.Connection:
        """The session inside this unit of work's transaction, for writes to other tables."""
        connection = await self.ready(tenant_id)
        if not self._in_transaction:
            await connection.execute("BEGIN")
            self._in_transaction = True
            await self._store.write_pending(connection)
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                if self._in_transaction:
                    if self.pending_key is not None:
                        await self.keys.write(self.connection, self.pending_key)
                    await self.connection.execute("COMMIT")
                else:
                    await self._store.write_pending(self.connection, self.pending_key)
                self.position = self._store.last_position
            elif self._in_transaction and not self.connection.is_closed():
                # A setting made inside the transaction reverts with it.
                self.connection.remember_tenant(None)
                try:
                    await self.connection.execute("ROLLBACK")
                except Exception:
                    # Mid-statement (a cancelled request) or broken: drop the session,
                    # which rolls back, rather than hide the original error.
                    self.connection.terminate()
        except BaseException as failure:
            if self._in_transaction:
                # A failed COMMIT rolled back, and a setting made in the transaction with it.
                self.connection.remember_tenant(None)
            if isinstance(failure, _BROKEN):
                self.connection.terminate()
            raise
        finally:
            if isinstance(exc, _BROKEN):
                # A broken (or interrupted) session must not go back to the pool.
                self.connection.terminate()
            try:
                await self._pool.release(self.connection)
            except Exception:
                self.connection.terminate()
        if self.position and self._on_commit is not None:
            self._on_commit(self.position)


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
        self._pending: list[_PendingAppend] = []
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
        """Queue the events (written at commit, see PgUnitOfWork), or write them now inside the
        unit of work's transaction. Queued records carry position 0 until then: the committed
        position is the unit of work's `position`."""
        if not events:
            return []
        await self._uow.ready(context.tenant_id)
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

    async def write_pending(
        self, connection: asyncpg.Connection, key: _PendingKey | None = None
    ) -> None:
        """Write the queued appends (and the key's response) in one statement."""
        if not self._pending:
            if key is not None:
                await self._uow.keys.write(connection, key)
            return
        pending, self._pending = self._pending, []
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        streams, versions, projects, types, schemas, datas, metas, times = columns
        tenant = pending[0].context.tenant_id
        for append in pending:
            metadata = orjson.dumps(append.context.metadata()).decode()
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
            if key is None:
                row = await connection.fetchrow(_APPEND, tenant, *columns)
            else:
                if key.tenant_id != tenant:
                    raise PermissionError("a unit of work writes for one tenant only")
                row = await connection.fetchrow(
                    _APPEND_WITH_KEY, tenant, *columns, *key.params()
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "pk_idempotency_key":
                raise ConcurrencyError("idempotency key used concurrently") from None
            raise ConcurrencyError(
                "a stream moved past its expected version",
                stream_id=",".join(sorted({a.stream_id for a in pending})),
            ) from None
        self.last_position = int(row[0])

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
            connection = await self._uow.ready()
            if stream_id.startswith(PROJECT_STREAM_PREFIX):
                rows = await connection.fetch(_LOAD, stream_id, after_version)
                records = [stored_event(r) for r in rows]
            else:
                # Whoever loads a task next checks access to its project: fetch both at once.
                records = []
                for row in await connection.fetch(_LOAD_WITH_PROJECT, stream_id, after_version):
                    event = stored_event(row)
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
        return [stored_event(r) for r in await connection.fetch(READ_AFTER, position, limit)]


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
        """Kept for the commit: stored with the events, in the statement that writes them."""
        await self._uow.ready(tenant_id)
        self._uow.pending_key = _PendingKey(tenant_id, user_id, key, record, at)

    async def write(self, connection: asyncpg.Connection, key: _PendingKey) -> None:
        """Store a response on its own (a command that wrote no event, or inside the
        transaction, where the response already carries its position)."""
        try:
            await connection.execute(_IDEMPOTENCY_PUT, key.tenant_id, *key.params())
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError("idempotency key used concurrently", key=key.key) from None


def pg_uow_factory(
    pool: PgPool,
    *,
    clock: Clock = utc_now,
    on_commit: Callable[[int], None] | None = None,
) -> Callable[..., PgUnitOfWork]:
    snapshots = SnapshotCache()

    def make(tenant_id: str | None = None) -> PgUnitOfWork:
        return PgUnitOfWork(
            pool, clock=clock, on_commit=on_commit, tenant_id=tenant_id, snapshots=snapshots
        )

    return make
