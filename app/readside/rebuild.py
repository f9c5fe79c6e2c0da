"""Rebuild a projection from position zero into shadow tables, then swap them in at once.

The live tables keep serving (and the live runner keeps applying) while the shadow copies fill
up in batches. The bulk of the replay may run in several processes, each taking
a disjoint set of tenants (`partitions`): every read model is kept per tenant (rows, copied
names, renames), so the partitions never touch each other's rows, and applying each tenant's
events in order is all a projector needs.

The swap is one transaction: it locks the checkpoint row (the live runner's next batch waits
on it), applies what was committed meanwhile (after the bulk phase) to the shadows, replaces the
live tables by the shadows, and sets the checkpoint to the shadows' position. Readers see either
the old model or the new one, never a half-built one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.eventstore.port import StoredEvent
from app.kernel.clock import Clock, utc_now
from app.kernel.db import event, make_engine, projection_checkpoint
from app.readside.projector import Projector, ensure_checkpoint, read_batch, read_checkpoint

SHADOW = "__rebuild"
# Index and constraint names are global per schema, so shadow ones get their own prefix.
SHADOW_PREFIX = "rb_"
# Below this many events a second process costs more (start-up, imports) than it saves.
PARTITION_THRESHOLD = 50_000


@dataclasses.dataclass(frozen=True, slots=True)
class RebuildReport:
    name: str
    events: int
    position: int
    seconds: float
    # Processes that shared the bulk of the replay (1 unless partitioned; see the docstring).
    partitions: int = 1

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float(self.events)


def shadow_table(live: sa.Table, metadata: sa.MetaData) -> sa.Table:
    """A copy of `live` under a shadow name, with shadow-named indexes and primary key."""
    shadow = sa.Table(
        live.name + SHADOW,
        metadata,
        *(sa.Column(c.name, c.type, *_computed(c), nullable=c.nullable) for c in live.columns),
        sa.PrimaryKeyConstraint(
            *(c.name for c in live.primary_key.columns),
            name=SHADOW_PREFIX + str(live.primary_key.name),
        ),
    )
    for index in live.indexes:
        sa.Index(
            SHADOW_PREFIX + str(index.name),
            *(shadow.c[c.name] for c in index.columns),
            # The index method (a GIN over search_entry.tsv), not always a btree.
            **index.dialect_kwargs,
        )
    return shadow


def _computed(column: sa.Column[object]) -> tuple[sa.Computed, ...]:
    """The generation expression of a generated column, for its shadow copy."""
    computed = column.computed
    if computed is None:
        return ()
    return (sa.Computed(computed.sqltext, persisted=computed.persisted),)


async def rebuild_projection(
    engine: AsyncEngine,
    projector: Projector,
    *,
    out: TextIO | None = None,
    batch_size: int = 5000,
    clock: Clock = utc_now,
    partitions: int = 1,
) -> RebuildReport:
    """Replay the whole store into fresh tables for `projector`, then swap them in; the bulk
    of it in `partitions` processes on PostgreSQL (see the module docstring)."""
    shadow_md = sa.MetaData()
    shadows = {t.name: shadow_table(t, shadow_md) for t in projector.tables}
    builder = projector.rebound(shadows)
    await ensure_checkpoint(engine, projector.name)
    async with engine.begin() as connection:
        # A crashed earlier rebuild may have left its shadows behind.
        await connection.run_sync(shadow_md.drop_all)
        await connection.run_sync(shadow_md.create_all)
        for live in projector.tables:
            await _carry_compression(connection, live.name, shadows[live.name].name)
    started = time.perf_counter()
    head = await _head(engine)
    if head < PARTITION_THRESHOLD or await _count_handled(engine, projector) < PARTITION_THRESHOLD:
        partitions = 1
    if partitions > 1:
        position, events = await _bulk_in_partitions(
            engine, projector, builder, head, partitions, batch_size, out, started
        )
    else:
        position, events = await _bulk(
            engine, builder, projector.name, None, None, batch_size, out, started
        )
    async with engine.begin() as connection:
        await read_checkpoint(connection, projector.name, for_update=True)
        while True:
            batch, upto = await read_batch(connection, position, batch_size, projector.handles)
            if upto == position:
                break
            await builder.apply_batch(connection, batch)
            position, events = upto, events + len(batch)
        await _swap(connection, list(projector.tables), shadows)
        await connection.execute(
            projection_checkpoint.update()
            .where(projection_checkpoint.c.name == projector.name)
            .values(position=position, updated_at=clock())
        )
    report = RebuildReport(
        projector.name, events, position, time.perf_counter() - started, partitions
    )
    if out is not None:
        out.write(
            f"{projector.name}: rebuilt {report.events} events up to position {position} "
            f"in {report.seconds:.2f}s ({report.rate:,.0f} events/s)\n"
        )
        out.flush()
    return report


async def _head(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(sa.text("SELECT coalesce(max(position), 0) FROM event")) or 0
        )


async def _count_handled(engine: AsyncEngine, projector: Projector) -> int:
    """How many events the projection applies: a large store may hold few of them (`users`),
    and then starting other processes costs more than they save."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            sa.select(sa.func.count()).where(event.c.type.in_(list(projector.handles)))
        )
    return int(found or 0)


async def _bulk(
    engine: AsyncEngine,
    builder: Projector,
    name: str,
    upto: int | None,
    partition: tuple[int, int] | None,
    batch_size: int,
    out: TextIO | None,
    started: float,
) -> tuple[int, int]:
    """Apply the store to the shadows from zero (to `upto`, or to the head; one partition's
    tenants, or all): (position reached, events applied)."""
    position, events, last_report = 0, 0, started

    async def fetch(after: int) -> tuple[list[StoredEvent], int]:
        async with engine.connect() as reader:
            return await read_batch(
                reader, after, batch_size, builder.handles, until=upto, partition=partition
            )

    # Read one batch ahead on a second connection: the store's read and decoding overlap with
    # applying (and writing) the batch before it. Each partition's shadow rows have one writer.
    ahead = asyncio.ensure_future(fetch(position))
    try:
        while True:
            batch, reached = await ahead
            if reached == position:
                break
            ahead = asyncio.ensure_future(fetch(reached))
            async with engine.begin() as connection:
                await builder.apply_batch(connection, batch)
            position, events = reached, events + len(batch)
            now = time.perf_counter()
            if out is not None and now - last_report >= 1.0:
                last_report = now
                share = "" if partition is None else f" (partition 1 of {partition[1]})"
                out.write(f"{name}: {events} events{share}, {events / (now - started):,.0f}/s\n")
                out.flush()
    finally:
        if not ahead.done():
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ahead
    return position, events


async def _bulk_in_partitions(
    engine: AsyncEngine,
    projector: Projector,
    builder: Projector,
    upto: int,
    partitions: int,
    batch_size: int,
    out: TextIO | None,
    started: float,
) -> tuple[int, int]:
    """Partition 0 here, the others in their own processes, all up to `upto`."""
    url = engine.url.render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")  # no forked event loop or pooled sockets
    with ProcessPoolExecutor(max_workers=partitions - 1, mp_context=context) as pool:
        others = [
            loop.run_in_executor(
                pool, _bulk_process, url, type(projector), upto, (k, partitions), batch_size
            )
            for k in range(1, partitions)
        ]
        try:
            _, mine = await _bulk(
                engine, builder, projector.name, upto, (0, partitions), batch_size, out, started
            )
        finally:
            counts = await asyncio.gather(*others)
    return upto, mine + sum(counts)


def _bulk_process(
    url: str, cls: type[Projector], upto: int, partition: tuple[int, int], batch_size: int
) -> int:
    """One partition's bulk replay, in a process of its own: the events it applied."""

    async def run() -> int:
        engine = make_engine(url, pool_size=2)
        try:
            shadows = {t.name: shadow_table(t, sa.MetaData()) for t in cls.tables}
            builder = cls().rebound(shadows)
            _, events = await _bulk(
                engine, builder, cls.name, upto, partition, batch_size, None, time.perf_counter()
            )
            return events
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _swap(
    connection: AsyncConnection, live_tables: list[sa.Table], shadows: dict[str, sa.Table]
) -> None:
    quote = connection.dialect.identifier_preparer.quote
    # Readers wait for the swap instead of finding a table missing.
    names = ", ".join(quote(t.name) for t in live_tables)
    await connection.execute(sa.text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
    for live in live_tables:
        shadow = shadows[live.name]
        await _carry_security(connection, live.name, shadow.name)
        await connection.execute(sa.text(f"DROP TABLE {quote(live.name)}"))
        await connection.execute(
            sa.text(f"ALTER TABLE {quote(shadow.name)} RENAME TO {quote(live.name)}")
        )
        for index in live.indexes:
            name = str(index.name)
            await connection.execute(
                sa.text(f"ALTER INDEX {quote(SHADOW_PREFIX + name)} RENAME TO {quote(name)}")
            )
        pk = str(live.primary_key.name)
        await connection.execute(
            sa.text(
                f"ALTER TABLE {quote(live.name)} RENAME CONSTRAINT "
                f"{quote(SHADOW_PREFIX + pk)} TO {quote(pk)}"
            )
        )


async def _carry_compression(connection: AsyncConnection, live: str, shadow: str) -> None:
    """Give the shadow's columns the live ones' compression method before any row is written."""
    quote = connection.dialect.identifier_preparer.quote
    columns = await connection.execute(
        sa.text(
            "SELECT attname, CASE attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END"
            " FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0"
            " AND NOT attisdropped AND attcompression <> ''"
        ),
        {"t": live},
    )
    for column, method in columns:
        await connection.execute(
            sa.text(
                f"ALTER TABLE {quote(shadow)} ALTER COLUMN {quote(column)} SET COMPRESSION {method}"
            )
        )


async def _carry_security(connection: AsyncConnection, live: str, shadow: str) -> None:
    """Give the shadow the live table's grants and row-level security (docs/security.md)."""
    quote = connection.dialect.identifier_preparer.quote
    grants_sql = sa.text(
        "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
        " WHERE table_schema = current_schema() AND table_name = :t"
        " AND grantee <> current_user"
    )
    # The schema's default privileges gave the new shadow table grants of its own (the app
    # role may write read models by default): take them back, so the shadow has exactly the
    # live table's, a read-only grant included (the search tables, migration 0009).
    defaults = await connection.execute(grants_sql, {"t": shadow})
    for grantee in {row[0] for row in defaults}:
        role = "PUBLIC" if grantee == "PUBLIC" else quote(grantee)
        await connection.execute(sa.text(f"REVOKE ALL ON {quote(shadow)} FROM {role}"))
    grants = await connection.execute(grants_sql, {"t": live})
    for grantee, privilege in grants:
        await connection.execute(
            sa.text(f"GRANT {privilege} ON {quote(shadow)} TO {quote(grantee)}")
        )
    secured = await connection.scalar(
        sa.text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"), {"t": live}
    )
    if secured:
        await connection.execute(sa.text(f"ALTER TABLE {quote(shadow)} ENABLE ROW LEVEL SECURITY"))
    policies = await connection.execute(
        sa.text(
            "SELECT policyname, permissive, cmd, qual, with_check FROM pg_policies"
            " WHERE schemaname = current_schema() AND tablename = :t"
        ),
        {"t": live},
    )
    for name, permissive, cmd, qual, with_check in policies:
        statement = f"CREATE POLICY {quote(name)} ON {quote(shadow)} AS {permissive} FOR {cmd}"
        if qual is not None:
            statement += f" USING ({qual})"
        if with_check is not None:
            statement += f" WITH CHECK ({with_check})"
        await connection.execute(sa.text(statement))
