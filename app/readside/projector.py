"""The Projector base, its batch row cache, and the checkpoint it writes with its rows.

A projector turns events into read rows. It is applied in batches: each batch loads the rows
it touches once, changes them in memory and writes them back in bulk, in the same transaction
that moves the projection's checkpoint. So a crash anywhere leaves rows and checkpoint in step
(nothing lost, nothing applied twice), and a rebuild from zero runs at bulk-insert speed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.eventstore import postgres
from app.eventstore.port import StoredEvent
from app.kernel.clock import utc_now
from app.kernel.db import metadata, projection_checkpoint
from app.kernel.domain import Event, event_class
from app.readside.rowcache import MISSING, Row, Rows, Write


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
    _handler_names: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        methods = [name for name in dir(cls) if re.fullmatch(r"on_[a-z_]+", name)]
        cls.handles = frozenset(_camel(name[3:]) for name in methods)
        cls._handler_names = {_camel(name[3:]): name for name in methods}

    def __init__(self, bind: Mapping[str, sa.Table] | None = None) -> None:
        self.t = TableSet(bind or {t.name: t for t in self.tables})
        self._caches: dict[str, Rows] = {}
        self._connection: AsyncConnection | None = None
        # Event type -> bound handler, and the lookup table's cache: a rebuild dispatches and
        # recalls names for every event of the store, so neither is looked up per event.
        self._handlers: dict[str, Callable[[Any, StoredEvent], Awaitable[None]]] = {
            type_: getattr(self, method) for type_, method in self._handler_names.items()
        }
        self._names: Rows | None = (
            None if self.lookup is None else self.rows(getattr(self.t, self.lookup))
        )
        # The checkpoint (position, row version) the warm caches are valid for; None: cold.
        self.warm: tuple[int, int] | None = None

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

    def before_write(self) -> None:
        """Called once per batch just before its rows are written (by either path): a
        projector may derive columns from the rows the batch changed (`Rows.dirty_rows`)."""

    async def flush(self) -> None:
        self.before_write()
        for cache in self._caches.values():
            await cache.flush(self.connection)

    async def update_where(self, table: sa.Table, where: Mapping[str, Any], **values: Any) -> None:
        """A set-wide change (a rename): stored rows in SQL, cached ones in memory, no flush."""
        rows = self.rows(table)
        rows.update_cached(where, values)
        await rows.update_stored(self.connection, where, values)

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
        name = self.recall_cached(kind, ref_id, default)
        if name is MISSING:
            assert self._names is not None and ref_id is not None
            row = await self._names.get(self.connection, kind, ref_id)
            name = default if row is None else str(row["name"])
        return str(name)

    def recall_cached(self, kind: str, ref_id: str | None, default: str = "someone") -> Any:
        """`recall` without awaiting, when the name is in the cache; else MISSING. A rebuild
        recalls three names per activity entry, nearly all of them cached."""
        names = self._names
        if ref_id is None or names is None:
            return default
        row = names.cached(kind, ref_id)
        if row is MISSING or row is None:
            return default if row is None else MISSING
        return str(row["name"])

    async def rename(self, kind: str, ref_id: str, name: str) -> None:
        assert self.lookup is not None
        await self.update(getattr(self.t, self.lookup), kind, ref_id, name=name)

    async def apply(self, connection: AsyncConnection, event: StoredEvent) -> None:
        """Apply one event (a batch of one): the runner uses apply_batch."""
        await self.apply_batch(connection, [event])

    async def apply_batch(
        self, connection: AsyncConnection, events: Iterable[StoredEvent], *, keep: bool = False
    ) -> None:
        """Apply `events` through the row cache and flush it; `keep` leaves it warm afterwards.

        Only the live runner keeps it (it is the tables' sole writer and checks so through the
        checkpoint); it must call `forget()` if the transaction does not commit.
        """
        await self._handle(connection, events, self.flush)
        for cache in self._caches.values():
            if keep:
                cache.settle()
            else:
                # The cache never outlives its transaction: the next batch may see other writers.
                cache.clear()

    async def apply_deferred(
        self, connection: AsyncConnection, events: Iterable[StoredEvent]
    ) -> list[Write]:
        """The live runner's batch on PostgreSQL: apply `events`, keep the cache warm, and
        answer the row writes still to run, which the runner sends in one statement with the
        checkpoints' compare-and-set (the caller must `forget()` if it does not commit)."""
        writes: list[Write] = []

        async def collect() -> None:
            self.before_write()
            for cache in self._caches.values():
                writes.extend(await cache.pending(self.connection))

        await self._handle(connection, events, collect)
        for cache in self._caches.values():
            cache.settle()
        return writes

    async def _handle(
        self,
        connection: AsyncConnection,
        events: Iterable[StoredEvent],
        then: Callable[[], Awaitable[None]],
    ) -> None:
        self._connection = connection
        try:
            handlers = self._handlers
            for record in events:
                handler = handlers.get(record.type)
                if handler is not None:
                    await handler(_decode(record), record)
            await then()
        except BaseException:
            self.forget()
            raise
        finally:
            self._connection = None

    def forget(self) -> None:
        """Drop every cached row: they may not match the tables any more."""
        self.warm = None
        for cache in self._caches.values():
            cache.clear()


def _decode(record: StoredEvent) -> Event:
    return event_class(record.type).from_data(record.data)


# -- reading the store ------------------------------------------------------------------------


async def read_batch(
    connection: AsyncConnection,
    after: int,
    span: int,
    types: Iterable[str],
    *,
    until: int | None = None,
    partition: tuple[int, int] | None = None,
) -> tuple[list[StoredEvent], int]:
    """The events of `types` in (after, upto], and upto: at most `span` positions further,
    and not past `until` (default: the head). `partition` (index, count), PostgreSQL only:
    only the events of the tenants that partition holds (a partitioned rebuild).

    Appends are serialised and gapless (eventstore.reads), so every position up to the visible head
    is committed: the checkpoint may move to `upto` even past events of other types.
    """
    # Straight on the driver: a rebuild reads every event of the store through here, and
    # SQLAlchemy's result processing cost as much as decoding the events.
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if until is None:
        until = int(await driver.fetchval(postgres.HEAD))
    upto = min(until, after + span)
    if upto <= after:
        return [], after
    if partition is None:
        rows = await driver.fetch(postgres.READ_RANGE, after, upto, list(types))
    else:
        index, count = partition
        rows = await driver.fetch(
            postgres.READ_RANGE_OF_PARTITION, after, upto, list(types), count, index
        )
    return [postgres.stored_event(row) for row in rows], upto


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


# The row version (xmin) tells the live runner whether anyone else wrote the checkpoint since
# its own last batch (a rebuild's swap, another runner): only then may its warm cache be stale.
_LOCK = sa.text(
    "SELECT position, xmin::text::bigint FROM projection_checkpoint WHERE name = :name FOR UPDATE"
)
_ADVANCE = (
    "UPDATE projection_checkpoint SET position = $3, updated_at = $4"
    " WHERE name = $1 AND position = $2 RETURNING xmin::text::bigint"
)


async def lock_checkpoint(connection: AsyncConnection, name: str) -> tuple[int, int | None] | None:
    """Lock the checkpoint row for this transaction: (position, row version)."""
    row = (await connection.execute(_LOCK, {"name": name})).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def advance_checkpoint(
    connection: AsyncConnection, name: str, old: int, new: int, now: datetime
) -> int | None:
    """Compare-and-set: a checkpoint that moved under us means this batch must roll back.

    Answers the new row version (see lock_checkpoint).
    """
    driver: Any = (await connection.get_raw_connection()).driver_connection
    version = await driver.fetchval(_ADVANCE, name, old, new, now)
    if version is None:
        raise CheckpointMovedError(f"checkpoint {name} moved away from {old}")
    return int(version)


FaultHook = Callable[[str, int], None]
