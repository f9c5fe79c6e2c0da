"""Runs the projectors in the API process: tails the store, applies batches, wakes on commits.

One runner per projection across replicas: the runner of a projection holds a PostgreSQL
session advisory lock on a dedicated connection while it applies; the other replicas stand by
and retry, and take over when the holder's session ends (PostgreSQL frees the lock when the
process or its connection dies). The compare-and-set checkpoint makes a stale leader's batch
roll back rather than apply twice. SQLite (the embedded default, one process) needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.kernel.clock import Clock, utc_now
from app.kernel.projection_feed import EventFeed
from app.kernel.projections import (
    FaultHook,
    Projector,
    advance_checkpoint,
    ensure_checkpoint,
    lock_checkpoint,
    read_batch,
    read_checkpoints,
)
from app.kernel.signals import CommitSignal
from app.kernel.sqlstore import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for one projection."""
    digest = hashlib.blake2b(f"collabspace:projection:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def apply_next_batch(
    engine: AsyncEngine,
    projector: Projector,
    *,
    batch_size: int = 1000,
    fault: FaultHook | None = None,
    clock: Clock = utc_now,
    connection: AsyncConnection | None = None,
    feed: EventFeed | None = None,
    keep: bool = False,
) -> tuple[int, int]:
    """Apply the events after the checkpoint, rows and checkpoint in one transaction.

    Answers (positions advanced, checkpoint now); at most `batch_size` positions per batch.
    The checkpoint row is locked first, so a batch and a rebuild's swap never interleave.
    With `keep` (the live runner, on PostgreSQL) the projector's row cache stays warm across
    batches for as long as the checkpoint row is the version its own last batch wrote.
    """
    try:
        if connection is not None and keep:
            return await _apply_live(connection, projector, batch_size, fault, clock, feed)
        if connection is None:
            async with engine.begin() as conn:
                return await _apply(conn, projector, batch_size, fault, clock, feed, keep)
        async with connection.begin():
            return await _apply(connection, projector, batch_size, fault, clock, feed, keep)
    except BaseException:
        # Rolled back, or its commit failed: what the cache holds may not be in the tables.
        projector.forget()
        raise


async def _apply(
    connection: AsyncConnection,
    projector: Projector,
    batch_size: int,
    fault: FaultHook | None,
    clock: Clock,
    feed: EventFeed | None,
    keep: bool,
) -> tuple[int, int]:
    locked = await lock_checkpoint(connection, projector.name)
    if locked is None:
        raise LookupError(f"no checkpoint row for projection {projector.name}")
    old, version = locked
    keep = keep and version is not None
    if not keep or projector.warm != (old, version):
        # Someone else wrote the checkpoint (a swap, another runner), or we never did.
        projector.forget()
    if keep:
        assert version is not None
        projector.warm = (old, version)
    if feed is not None:
        events, new = await feed.read(connection, old, batch_size, projector.handles)
    else:
        events, new = await read_batch(connection, old, batch_size, projector.handles)
    if new == old:
        return 0, old
    await projector.apply_batch(connection, events, keep=keep)
    if fault is not None:
        fault(projector.name, new)  # tests: a crash after the rows, before the checkpoint
    version = await advance_checkpoint(connection, projector.name, old, new, clock())
    # Valid once the transaction commits; a failed commit forgets it (apply_next_batch).
    projector.warm = (new, version) if keep and version is not None else None
    return new - old, new


_LOCK = "SELECT position, xmin::text::bigint FROM projection_checkpoint WHERE name = $1 FOR UPDATE"


def _begin_if_unmoved(name: str, position: int, version: int) -> str:
    """BEGIN and lock the checkpoint in one message, failing unless it is still at `version`.

    The division by zero is the signal: count 0 means someone else wrote the row (or it is
    gone), so the transaction is rolled back and the batch starts over cold.
    """
    literal = "'" + name.replace("'", "''") + "'"
    return (
        "BEGIN; SELECT 1 / count(*) FILTER"
        f" (WHERE position = {int(position)} AND xmin::text::bigint = {int(version)})"
        f" FROM (SELECT position, xmin FROM projection_checkpoint WHERE name = {literal}"
        " FOR UPDATE) AS checkpoint"
    )


async def _apply_live(
    connection: AsyncConnection,
    projector: Projector,
    batch_size: int,
    fault: FaultHook | None,
    clock: Clock,
    feed: EventFeed | None,
) -> tuple[int, int]:
    """A batch of the live runner on its lock session (AUTOCOMMIT for SQLAlchemy: the
    transaction is driven here, in as few round trips as possible, with the cache kept warm)."""
    driver: Any = (await connection.get_raw_connection()).driver_connection
    locked = projector.warm
    if locked is not None:
        try:
            await driver.execute(_begin_if_unmoved(projector.name, *locked))
        except asyncpg.DivisionByZeroError:
            await driver.execute("ROLLBACK")
            locked = None
    if locked is None:
        projector.forget()
        await driver.execute("BEGIN")
        row = await driver.fetchrow(_LOCK, projector.name)
        if row is None:
            raise LookupError(f"no checkpoint row for projection {projector.name}")
        locked = (int(row[0]), int(row[1]))
        projector.warm = locked
    old, version = locked
    if feed is not None:
        events, new = await feed.read(connection, old, batch_size, projector.handles)
    else:
        events, new = await read_batch(connection, old, batch_size, projector.handles)
    if new != old:
        await projector.apply_batch(connection, events, keep=True)
        if fault is not None:
            fault(projector.name, new)  # tests: a crash after the rows, before the checkpoint
        version = await advance_checkpoint(connection, projector.name, old, new, clock()) or 0
    await driver.execute("COMMIT")
    if connection.in_transaction():
        await connection.commit()  # only SQLAlchemy's bookkeeping: AUTOCOMMIT sends nothing
    projector.warm = (new, version)
    return new - old, new


async def catch_up(
    engine: AsyncEngine, projectors: Sequence[Projector], *, batch_size: int = 1000
) -> None:
    """Apply every projector up to the current head (tests, the CLI, a single process)."""
    for projector in projectors:
        await ensure_checkpoint(engine, projector.name)
        while (await apply_next_batch(engine, projector, batch_size=batch_size))[0]:
            pass


class ProjectionRunner:
    """The projectors of this process, one task each, plus the commit listener."""

    def __init__(
        self,
        engine: AsyncEngine,
        projectors: Sequence[Projector],
        *,
        signal: CommitSignal | None = None,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        standby_interval: float = 2.0,
        retry_interval: float = 0.5,
        coalesce_interval: float = 0.02,
        fault: FaultHook | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.projectors = list(projectors)
        self.names = [p.name for p in self.projectors]
        self.positions = dict.fromkeys(self.names, 0)
        self.leading: set[str] = set()
        self.fault = fault
        self._signal = signal
        self._batch_size = batch_size
        self._poll = poll_interval
        self._standby = standby_interval
        self._retry = retry_interval
        self._coalesce = coalesce_interval
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._wake = {name: asyncio.Event() for name in self.names}
        self._progress = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.feed = EventFeed()
        self._listener: AsyncConnection | None = None
        self._unlisten: Callable[[], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        for name in self.names:
            await ensure_checkpoint(self.engine, name)
        async with self.engine.connect() as connection:
            self.positions.update(await read_checkpoints(connection, self.names))
        self.feed.reset(min(self.positions.values(), default=0))
        spawn = asyncio.get_running_loop().create_task
        self._tasks = [
            spawn(self._run_one(p), name=f"projection:{p.name}") for p in self.projectors
        ]
        if self._postgres:
            self._tasks.append(spawn(self._listen(), name="projections:listen"))
        if self._signal is not None:
            self._unlisten = self._signal.listen(self.notify)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.leading.clear()

    async def run(self) -> None:
        """Run until cancelled (a lifespan or worker task)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    def notify(self, position: int) -> None:
        """A commit happened at `position` (wire it to the UoW's on_commit)."""
        for name, event in self._wake.items():
            if self.positions[name] < position:
                event.set()

    # -- read-your-writes -----------------------------------------------------------------
    async def wait_for(
        self, position: int, timeout: float, names: Collection[str] | None = None
    ) -> bool:
        """Wait until the named projections (default: all) reach `position`; False on timeout."""
        wanted = list(names) if names is not None else self.names
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if all(self.positions.get(n, 0) >= position for n in wanted):
                return True
            if any(n not in self.leading for n in wanted):
                # Another replica applies it: its progress is visible only in the table.
                async with self.engine.connect() as connection:
                    seen = await read_checkpoints(connection, wanted)
                for name, value in seen.items():
                    self.positions[name] = max(self.positions.get(name, 0), value)
                if all(seen[n] >= position for n in wanted):
                    return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            step = remaining if all(n in self.leading for n in wanted) else min(remaining, 0.02)
            progress = self._progress
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step):
                    await progress.wait()

    def _advanced(self, name: str, position: int) -> None:
        self.positions[name] = position
        # Swap in a fresh event: every waiter holding the old one wakes exactly once.
        self._progress.set()
        self._progress = asyncio.Event()

    # -- one projection -------------------------------------------------------------------
    async def _run_one(self, projector: Projector) -> None:
        while True:
            lock: AsyncConnection | None = None
            try:
                if self._postgres:
                    lock = await self._acquire(projector.name)
                self.leading.add(projector.name)
                await self._lead(projector, lock)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("projection %s failed; retrying", projector.name)
                await asyncio.sleep(self._retry)
            finally:
                self.leading.discard(projector.name)
                if lock is not None:
                    await _drop_session(lock)

    async def _acquire(self, name: str) -> AsyncConnection:
        """Hold the projection's advisory lock on a dedicated session, waiting as a standby."""
        while True:
            connection = await self.engine.connect()
            try:
                got = await connection.scalar(
                    sa.select(sa.func.pg_try_advisory_lock(lock_key(name)))
                )
                await connection.commit()
            except BaseException:
                await _close_quietly(connection)
                raise
            if got:
                # Batches drive their transactions on the driver (see _apply_live); SQLAlchemy
                # statements a projector runs then join them instead of beginning their own.
                return await connection.execution_options(isolation_level="AUTOCOMMIT")
            await _close_quietly(connection)
            await asyncio.sleep(self._standby)

    async def _lead(self, projector: Projector, lock: AsyncConnection | None) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake[projector.name]
        applied = 0.0
        projector.forget()  # new leadership: nothing cached is known to be current
        while True:
            # Under a steady stream of commits, every commit wakes every projector: applying
            # each one in its own transaction costs more than the API's write itself. So batches
            # start at most every `coalesce_interval` (its read-model lag at worst), and a
            # busy store is applied in batches of many events; an idle one still at once.
            pause = applied + self._coalesce - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            applied = loop.time()
            wake.clear()
            # Batches run on the lock session itself: while it applies, it still leads, and
            # a dead session fails the batch (then the lock is re-acquired or lost).
            count, position = await apply_next_batch(
                self.engine,
                projector,
                batch_size=self._batch_size,
                fault=self.fault,
                clock=self._clock,
                connection=lock,
                feed=self.feed,
                keep=lock is not None,
            )
            if position != self.positions[projector.name] or count:
                self._advanced(projector.name, position)
                self.feed.trim(min(self.positions[n] for n in self.leading))
            if count < self._batch_size:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that races with the wake-up, and stop() would wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await wake.wait()

    # -- wake-ups -------------------------------------------------------------------------
    async def _listen(self) -> None:
        """LISTEN on the commit channel; every committing UoW NOTIFYs it with its position."""
        while True:
            try:
                async with self.engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver: Any = raw.driver_connection
                    await driver.add_listener(NOTIFY_CHANNEL, self._on_notify)
                    try:
                        while not driver.is_closed():
                            await asyncio.sleep(self._poll)
                    finally:
                        if not driver.is_closed():
                            await driver.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("projection listener lost; polling until it reconnects", exc_info=True)
            await asyncio.sleep(self._retry)

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.notify(int(payload))
        except ValueError:
            self.notify(max(self.positions.values(), default=0) + 1)


async def _drop_session(connection: AsyncConnection) -> None:
    """Close the connection for real: a session advisory lock must not go back to the pool."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:  # the session is already gone, and its lock with it
        log.debug("dropping a projection lock session failed", exc_info=True)


async def _close_quietly(connection: AsyncConnection) -> None:
    try:
        await connection.close()
    except Exception:  # the session is already gone; closing it is only tidying up
        log.debug("closing a projection connection failed", exc_info=True)
