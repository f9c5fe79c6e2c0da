"""Runs the projectors in the API process: tails the store, applies batches, wakes on commits.

One runner per projection across replicas: the runner of a projection holds a PostgreSQL
session advisory lock on a dedicated connection while it applies; the other replicas stand by
and retry, and take over when the holder's session ends (PostgreSQL frees the lock when the
process or its connection dies). The compare-and-set checkpoint makes a stale leader's batch
roll back rather than apply twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.eventstore.reads import NOTIFY_CHANNEL
from app.kernel.clock import Clock, utc_now
from app.kernel.signals import CommitSignal
from app.readside.checkpoint_watch import CheckpointWatch
from app.readside.feed import EventFeed
from app.readside.live import BatchFailedError, apply_group
from app.readside.projector import (
    FaultHook,
    Projector,
    advance_checkpoint,
    ensure_checkpoint,
    lock_checkpoint,
    read_batch,
    read_checkpoints,
)

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
) -> tuple[int, int]:
    """Apply the events after the checkpoint, rows and checkpoint in one transaction.

    Answers (positions advanced, checkpoint now); at most `batch_size` positions per batch.
    The checkpoint row is locked first, so a batch and a rebuild's swap never interleave.
    (The live runner on PostgreSQL batches all it leads at once: readside.live.)
    """
    async with engine.begin() as connection:
        locked = await lock_checkpoint(connection, projector.name)
        if locked is None:
            raise LookupError(f"no checkpoint row for projection {projector.name}")
        old = locked[0]
        events, new = await read_batch(connection, old, batch_size, projector.handles)
        if new == old:
            return 0, old
        await projector.apply_batch(connection, events)
        if fault is not None:
            fault(projector.name, new)  # tests: a crash after the rows, before the checkpoint
        await advance_checkpoint(connection, projector.name, old, new, clock())
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
        self._wake_any = asyncio.Event()  # the runner's one loop
        self._progress = asyncio.Event()
        # Read-your-writes for projections this runner does not lead (one poller per process).
        self._watch = CheckpointWatch(engine, self.names)
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
            spawn(self._run_leader(), name="projections"),
            spawn(self._listen(), name="projections:listen"),
        ]
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
        await self._watch.close()

    async def run(self) -> None:
        """Run until cancelled (a lifespan or worker task)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    def notify(self, position: int) -> None:
        """A commit happened at `position` (wire it to the UoW's on_commit)."""
        if any(self.positions[name] < position for name in self.names):
            self._wake_any.set()

    # -- read-your-writes -----------------------------------------------------------------
    async def wait_for(
        self, position: int, timeout: float, names: Collection[str] | None = None
    ) -> bool:
        """Wait until the named projections (default: all) reach `position`; False on timeout."""
        wanted = list(names) if names is not None else self.names
        if any(n not in self.leading for n in wanted):
            # Another process applies some of them: their progress is visible only in the table.
            return await self._watch.wait_for(position, timeout, wanted)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(self.positions.get(n, 0) >= position for n in wanted):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            progress = self._progress
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await progress.wait()
        return True

    def _advanced(self, name: str, position: int) -> None:
        self.positions[name] = position
        # Swap in a fresh event: every waiter holding the old one wakes exactly once.
        self._progress.set()
        self._progress = asyncio.Event()

    # -- PostgreSQL: one session leads what it can lock, one transaction per cycle --------
    async def _run_leader(self) -> None:
        while True:
            session: AsyncConnection | None = None
            try:
                session = await self._session()
                await self._lead_all(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("projections failed; reconnecting")
                await asyncio.sleep(self._retry)
            finally:
                # The advisory locks die with the session: another replica may lead now.
                self.leading.clear()
                for projector in self.projectors:
                    projector.forget()
                if session is not None:
                    await _drop_session(session)

    async def _session(self) -> AsyncConnection:
        """The session holding this runner's advisory locks, on which its batches also run.

        AUTOCOMMIT for SQLAlchemy: readside.live drives the transactions on the driver, and
        the SQL a projector runs through SQLAlchemy joins them instead of beginning its own.
        """
        connection = await self.engine.connect()
        try:
            return await connection.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await _close_quietly(connection)
            raise

    async def _claim(self, driver: Any, led: list[Projector]) -> None:
        """Take the advisory lock of every projection no replica leads (a standby's retry)."""
        for projector in self.projectors:
            if projector in led:
                continue
            if await driver.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(projector.name)):
                projector.forget()  # new leadership: nothing cached is known to be current
                led.append(projector)
                self.leading.add(projector.name)

    async def _lead_all(self, session: AsyncConnection) -> None:
        loop = asyncio.get_running_loop()
        driver: Any = (await session.get_raw_connection()).driver_connection
        led: list[Projector] = []
        retry_at: dict[str, float] = {}  # a projector whose batch failed waits, alone
        claim_at = applied = 0.0
        while True:
            if len(led) < len(self.projectors) and loop.time() >= claim_at:
                await self._claim(driver, led)
                claim_at = loop.time() + self._standby
            full = False
            if led:
                # Under a steady stream of commits every commit wakes the runner: batches
                # start at most every `coalesce_interval` (the read models' lag at worst),
                # so a busy store is applied in batches of many events; an idle one at once.
                pause = applied + self._coalesce - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                applied = loop.time()
                self._wake_any.clear()
                ready = [p for p in led if retry_at.get(p.name, 0.0) <= applied]
                if ready:
                    full = await self._cycle(session, driver, ready, retry_at)
            if not full:
                if not led:
                    # A standby applies nothing: a commit gives it nothing to do before its
                    # next try for the locks. Left set, the wake made this loop spin until then.
                    self._wake_any.clear()
                # Wake at the latest for the polling fallback, a projector's retry, or (as a
                # standby for some projections) the next try for their locks.
                deadlines = [*retry_at.values()]
                if led:
                    deadlines.append(applied + self._poll)
                if len(led) < len(self.projectors):
                    deadlines.append(claim_at)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that races with the wake-up, and stop() would wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, min(deadlines) - loop.time())):
                        await self._wake_any.wait()

    async def _cycle(
        self,
        session: AsyncConnection,
        driver: Any,
        ready: list[Projector],
        retry_at: dict[str, float],
    ) -> bool:
        """One transaction for the ready projectors; True if some batch was full."""
        try:
            results = await apply_group(
                session,
                ready,
                feed=self.feed,
                batch_size=self._batch_size,
                clock=self._clock,
                fault=self.fault,
            )
        except BatchFailedError as failed:
            # Only that projector waits and retries; the others go on without it.
            log.exception("projection %s failed; retrying", failed.name)
            await driver.execute("ROLLBACK")  # a dead session raises: reconnect
            retry_at[failed.name] = asyncio.get_running_loop().time() + self._retry
            return False
        except asyncpg.PostgresError:
            # The statement writing every projection's rows failed: whose rows? Alone, each
            # projector's own failure is its own.
            await driver.execute("ROLLBACK")
            if len(ready) > 1:
                alone = [await self._cycle(session, driver, [p], retry_at) for p in ready]
                return any(alone)
            log.exception("projection %s failed; retrying", ready[0].name)
            retry_at[ready[0].name] = asyncio.get_running_loop().time() + self._retry
            return False
        for name, (count, position) in results.items():
            retry_at.pop(name, None)
            if position != self.positions[name] or count:
                self._advanced(name, position)
        self.feed.trim(min(self.positions[n] for n in self.leading))
        return any(count >= self._batch_size for count, _ in results.values())

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
