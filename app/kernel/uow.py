"""The unit of work: one transaction per command, holding the event store and what it wrote."""

from __future__ import annotations

import abc
import asyncio
import dataclasses
from collections.abc import Callable
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.kernel.clock import Clock, utc_now
from app.kernel.eventstore import AppendContext, EventStore
from app.kernel.idempotency import IdempotencyStore, SqlIdempotencyStore
from app.kernel.snapshots import SnapshotCache
from app.kernel.sqlstore import (
    AppendLock,
    PostgresAppendLock,
    ProcessAppendLock,
    SqlEventStore,
)


@dataclasses.dataclass(frozen=True, slots=True)
class CommandMeta:
    """Who sent a command and under which correlation id; stamped on every event it writes."""

    actor_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    # The caller's tenant: PostgreSQL row-level security lets the transaction see only its rows.
    tenant_id: str | None = None


class UnitOfWork(abc.ABC):
    """`async with uow:` opens a transaction and commits it on a clean exit, else rolls back."""

    events: EventStore
    idempotency: IdempotencyStore
    meta: CommandMeta = CommandMeta()
    clock: Clock = staticmethod(utc_now)
    # The highest position this unit of work wrote, once committed (0 when it wrote nothing).
    position: int = 0
    # Aggregate snapshots shared by the units of work of one factory (None: always replay).
    snapshots: SnapshotCache | None = None

    def snapshot_tenant(self) -> str | None:
        """The tenant whose snapshots this unit of work may use: the one its reads are scoped
        to, when the store scopes reads by tenant and snapshots are on; else None."""
        return None

    def context(self, tenant_id: str) -> AppendContext:
        return AppendContext(
            tenant_id=tenant_id,
            recorded_at=self.clock(),
            actor_id=self.meta.actor_id,
            correlation_id=self.meta.correlation_id,
            causation_id=self.meta.causation_id,
        )

    @abc.abstractmethod
    async def __aenter__(self) -> Self: ...

    @abc.abstractmethod
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SqlUnitOfWork(UnitOfWork):
    connection: AsyncConnection

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lock: AppendLock,
        clock: Clock = utc_now,
        on_commit: Callable[[int], None] | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self._engine = engine
        self.tenant_id = tenant_id
        self._lock = lock
        self._on_commit = on_commit
        self.clock = clock

    async def __aenter__(self) -> Self:
        self.connection = await self._engine.connect()
        await self.connection.begin()
        tenant = self.tenant_id or self.meta.tenant_id
        if tenant is not None and self.connection.dialect.name == "postgresql":
            await self.connection.execute(
                sa.select(sa.func.set_config("app.tenant_id", tenant, True))
            )
        self._store = SqlEventStore(self.connection, self._lock)
        self.events = self._store
        self.idempotency = SqlIdempotencyStore(self.connection)
        self.position = 0
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                # On PostgreSQL each append has already queued its NOTIFY (sent at commit).
                written = self._store.last_position
                await self.connection.commit()
                self.position = written
            else:
                await self.connection.rollback()
        finally:
            self._lock.release()
            await self.connection.close()
        if self.position and self._on_commit is not None:
            self._on_commit(self.position)


def uow_factory(
    engine: AsyncEngine,
    *,
    clock: Clock = utc_now,
    on_commit: Callable[[int], None] | None = None,
) -> Callable[..., SqlUnitOfWork]:
    """Build UoWs for this engine with the append lock that fits its database."""
    if engine.dialect.name == "postgresql":
        pg_lock = PostgresAppendLock()

        def on_postgres(tenant_id: str | None = None) -> SqlUnitOfWork:
            return SqlUnitOfWork(
                engine, lock=pg_lock, clock=clock, on_commit=on_commit, tenant_id=tenant_id
            )

        return on_postgres
    process_lock = asyncio.Lock()

    def on_sqlite(tenant_id: str | None = None) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            engine,
            lock=ProcessAppendLock(process_lock),
            clock=clock,
            on_commit=on_commit,
            tenant_id=tenant_id,
        )

    return on_sqlite
