"""The Projector base, its batch row cache, and the checkpoint it writes with its rows.

A projector turns events into read rows. It is applied in batches: each batch loads the rows
it touches once, changes them in memory and writes them back in bulk, in the same transaction
that moves the projection's checkpoint. So a crash anywhere leaves rows and checkpoint in step
(nothing lost, nothing applied twice), and a rebuild from zero runs at bulk-insert speed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.kernel.clock import utc_now
from app.kernel.db import event as event_table
from app.kernel.db import metadata, projection_checkpoint
from app.kernel.domain import Event, event_class
from app.kernel.eventstore import StoredEvent
from app.kernel.rowcache import MISSING, Row, Rows


class CheckpointMovedError(Exception):
    """Someone else (a rebuild's swap, another runner) moved the checkpoint under this batch."""


class TableSet:
    """The tables a projector writes, by their live name; a rebuild binds shadow copies."""

    def __init__(self, tables: Mapping[str, sa.Table]) -> None:
        self._tables = dict(tables)

    def __getattr__(self, name: str) -> sa.Table:
        try:
            return self._tables[name]
        except KeyError:
            raise AttributeError(name) from None


def lookup_table(name: str) -> sa.Table:
    """A projection's own copy of the names it denormalizes, kept in step by its own events.

    Each projection keeps its own so it never reads another projection's tables while
    applying (which may be at another position): live, replayed and rebuilt rows then agree.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column("kind", sa.String(12), primary_key=True),
        sa.Column("ref_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
    )


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


class Projector:
    """Event -> read rows. Subclasses define `on_<event>(event, record)` and list their tables.

    Handlers change rows through `self.rows(table)` (cached for the batch) or, for set-wide
    changes such as a rename, call `await self.flush()` first and then run SQL directly.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[sa.Table, ...]]
    # Event type names this projector handles, derived from its on_<event> methods.
    handles: ClassVar[frozenset[str]] = frozenset()
    # Event type name -> handler method name, so that dispatch is one dict lookup per event.
    _handler_names: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handler_names = {
            _camel(name[3:]): name for name in dir(cls) if re.fullmatch(r"on_[a-z_]+", name)
        }
        cls.handles = frozenset(cls._handler_names)

    def __init__(self, bind: Mapping[str, sa.Table] | None = None) -> None:
        self.t = TableSet(bind or {t.name: t for t in self.tables})
        self._caches: dict[str, Rows] = {}
        self._connection: AsyncConnection | None = None
        self._handlers: dict[str, Callable[[Any, StoredEvent], Any]] = {
            type_: getattr(self, method) for type_, method in self._handler_names.items()
        }
        self._names: Rows | None = (
            None if self.lookup is None else self.rows(getattr(self.t, self.lookup))
        )

    def rebound(self, bind: Mapping[str, sa.Table]) -> Projector:
        """The same projector writing to other tables (a rebuild's shadow copies)."""
        return type(self)(bind)

    @property
    def connection(self) -> AsyncConnection:
        assert self._connection is not None, "only inside apply_batch"
        return self._connection

    def rows(self, table: sa.Table) -> Rows:
        cache = self._caches.get(table.name)
        if cache is None:
            cache = self._caches[table.name] = Rows(table)
        return cache

    async def get(self, table: sa.Table, *key: Any) -> Row | None:
        return await self.rows(table).get(self.connection, *key)

    async def update(self, table: sa.Table, *key: Any, **values: Any) -> Row | None:
        """Change one row (if it exists) through the batch cache."""
        row = await self.get(table, *key)
        if row is not None:
            row.update(values)
            self.rows(table).changed(row)
        return row

    async def flush(self) -> None:
        for cache in self._caches.values():
            await cache.flush(self.connection)

    async def update_where(self, table: sa.Table, where: Mapping[str, Any], **values: Any) -> None:
        """A set-wide change (a rename): stored rows in SQL, cached ones in memory, no flush."""
        self.rows(table).update_cached(where, values)
        condition = sa.and_(*(table.c[c] == v for c, v in where.items()))
        await self.connection.execute(table.update().where(condition).values(**values))

    async def sync(self) -> None:
        """Write the cache out and forget it, before a set-wide UPDATE (a rename) runs in SQL."""
        await self.flush()
        for cache in self._caches.values():
            cache.clear()

    # -- the lookup table of names ----------------------------------------------------------
    lookup: ClassVar[str | None] = None

    def remember(self, kind: str, ref_id: str, tenant_id: str, name: str) -> None:
        assert self.lookup is not None
        table = getattr(self.t, self.lookup)
        self.rows(table).add({"kind": kind, "ref_id": ref_id, "tenant_id": tenant_id, "name": name})

    async def recall(self, kind: str, ref_id: str | None, default: str = "someone") -> str:
        if ref_id is None or self._names is None:
            return default
        # Most names are already in the batch's cache: answer those without a database call.
        row = self._names.cached(kind, ref_id)
        if row is MISSING:
            row = await self._names.get(self.connection, kind, ref_id)
        return default if row is None else str(row["name"])

    async def rename(self, kind: str, ref_id: str, name: str) -> None:
        assert self.lookup is not None
        await self.update(getattr(self.t, self.lookup), kind, ref_id, name=name)

    async def apply(self, connection: AsyncConnection, event: StoredEvent) -> None:
        """Apply one event (a batch of one): the runner uses apply_batch."""
        await self.apply_batch(connection, [event])

    async def apply_batch(self, connection: AsyncConnection, events: Iterable[StoredEvent]) -> None:
        self._connection = connection
        try:
            handlers = self._handlers
            for record in events:
                handler = handlers.get(record.type)
                if handler is not None:
                    await handler(_decode(record), record)
            await self.flush()
        finally:
            # The cache never outlives its transaction: the next batch may see other writers.
            for cache in self._caches.values():
                cache.clear()
            self._connection = None


def _decode(record: StoredEvent) -> Event:
    return event_class(record.type).from_data(record.data)


# -- reading the store ------------------------------------------------------------------------

_e = event_table.c
# JSON as text and ids as text: decoding them here is several times cheaper than the driver's
# per-value codecs, and a rebuild reads every event of the store.
_BATCH_COLUMNS = (
    _e.position,
    _e.stream_id,
    _e.version,
    sa.cast(_e.tenant_id, sa.String),
    sa.cast(_e.project_id, sa.String),
    _e.type,
    _e.schema_version,
    sa.cast(_e.data, sa.Text),
    sa.cast(_e["metadata"], sa.Text),
    _e.recorded_at,
)


async def read_batch(
    connection: AsyncConnection, after: int, span: int, types: Iterable[str]
) -> tuple[list[StoredEvent], int]:
    """The events of `types` in (after, upto], and upto: at most `span` positions further.

    Appends are serialised and gapless (sqlstore), so every position up to the visible head
    is committed: the checkpoint may move to `upto` even past events of other types.
    """
    head = int(
        await connection.scalar(sa.select(sa.func.coalesce(sa.func.max(_e.position), 0))) or 0
    )
    upto = min(head, after + span)
    if upto <= after:
        return [], after
    rows = await connection.execute(
        sa.select(*_BATCH_COLUMNS)
        .where(_e.position > after, _e.position <= upto, _e.type.in_(list(types)))
        .order_by(_e.position)
    )
    loads = orjson.loads
    events = [
        StoredEvent(
            position,
            stream_id,
            version,
            tenant if len(tenant) == 36 else _uuid_text(tenant),
            None if project is None else _uuid_text(project),
            type_,
            schema_version,
            loads(data),
            loads(metadata),
            at if at.tzinfo is not None else at.replace(tzinfo=UTC),
        )
        for (
            position,
            stream_id,
            version,
            tenant,
            project,
            type_,
            schema_version,
            data,
            metadata,
            at,
        ) in rows
    ]
    return events, upto


def _uuid_text(value: str) -> str:
    # SQLite stores Uuid as 32 hex digits; PostgreSQL casts to the dashed form.
    return value if len(value) == 36 else str(uuid.UUID(value))


# -- checkpoints --------------------------------------------------------------------------------


async def read_checkpoint(
    connection: AsyncConnection, name: str, *, for_update: bool = False
) -> int | None:
    query = sa.select(projection_checkpoint.c.position).where(projection_checkpoint.c.name == name)
    if for_update:
        query = query.with_for_update()
    value = await connection.scalar(query)
    return None if value is None else int(value)


async def read_checkpoints(connection: AsyncConnection, names: Iterable[str]) -> dict[str, int]:
    wanted = list(names)
    rows = await connection.execute(
        sa.select(projection_checkpoint.c.name, projection_checkpoint.c.position).where(
            projection_checkpoint.c.name.in_(wanted)
        )
    )
    found = {r.name: int(r.position) for r in rows}
    return {name: found.get(name, 0) for name in wanted}


async def ensure_checkpoint(engine: AsyncEngine, name: str) -> None:
    """Create the checkpoint row at 0 if missing, so batches can lock and compare-and-set it."""
    async with engine.begin() as connection:
        if await read_checkpoint(connection, name) is None:
            try:
                async with connection.begin_nested():
                    await connection.execute(
                        projection_checkpoint.insert().values(
                            name=name, position=0, updated_at=utc_now()
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # another process created it first; that row is as good as ours


async def advance_checkpoint(
    connection: AsyncConnection, name: str, old: int, new: int, now: datetime
) -> None:
    """Compare-and-set: a checkpoint that moved under us means this batch must roll back."""
    result = await connection.execute(
        projection_checkpoint.update()
        .where(projection_checkpoint.c.name == name, projection_checkpoint.c.position == old)
        .values(position=new, updated_at=now)
    )
    if result.rowcount != 1:
        raise CheckpointMovedError(f"checkpoint {name} moved away from {old}")


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction in which the checkpoint and the rows come from one snapshot."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        async with connection.begin():
            yield connection


FaultHook = Callable[[str, int], None]
