"""The PostgreSQL unit of work: one command's reads and writes on one pooled session (see the
package docstring for its round trips and locking)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Self

import asyncpg  # type: ignore[import-untyped]

from app.eventstore.postgres.group import Command
from app.eventstore.postgres.idempotency import PendingKey, PgIdempotencyStore
from app.eventstore.postgres.pool import BROKEN, PgPool
from app.eventstore.postgres.sql import SET_TENANT
from app.eventstore.postgres.store import PgEventStore
from app.eventstore.snapshots import SnapshotCache
from app.eventstore.uow import UnitOfWork
from app.kernel.clock import Clock, utc_now


def _uuid_literal(value: str) -> str:
    # Tenants are bound by their canonical UUID text, as the row policies compare it.
    return str(uuid.UUID(value))


class PgUnitOfWork(UnitOfWork):
    """One command's reads and writes on one pooled asyncpg session.

    Reads run as they come, outside a transaction. Appends wait for the exit, where the session
    goes back to the pool and the process's group commit writes them, with the Idempotency-Key
    response and other commands' appends, in one self-committing call. A write to another table
    (`begin`) opens a real transaction instead, holding any waiting appends and every later one
    (written by `collabspace_append` on this session), committed at the exit.
    """

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
        self.group_commit = pool.group_commit
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

    @property
    def connection(self) -> asyncpg.Connection:
        """The pooled session, once a statement needed one (`ready`)."""
        if self._connection is None:
            raise RuntimeError("no session yet: await ready() first")
        return self._connection

    async def __aenter__(self) -> Self:
        # The session is taken by the first statement (`ready`), not here: a command that only
        # appends (its events go to the group commit, which has its own session) never takes
        # one, nor pays the round trip that binds it to its tenant.
        self._connection: asyncpg.Connection | None = None
        self._in_transaction = False
        self._bound: str | None = None
        self._store = PgEventStore(self)
        self.events = self._store
        self.idempotency = self.keys = PgIdempotencyStore(self)
        self.pending_key: PendingKey | None = None
        self.position = 0
        return self

    def claim(self, tenant_id: str | None = None) -> str:
        """The tenant this unit of work serves, decided without a round trip ("" while none
        is known): the caller's (`meta.tenant_id` or the factory's), else the first one a
        write names (sign-up creates its tenant). A unit of work serves exactly one tenant."""
        # The caller's tenant binds first; a tenant named by a write must then be the same.
        wanted = self.tenant_id or self.meta.tenant_id or tenant_id
        if self._bound is None or (wanted is not None and self._bound == ""):
            self._bound = "" if wanted is None else _uuid_literal(wanted)
        if tenant_id is not None and self._bound and tenant_id != self._bound:
            raise PermissionError("a unit of work writes for one tenant only")
        return self._bound

    async def ready(self, tenant_id: str | None = None) -> asyncpg.Connection:
        """The session, taken from the pool on first use and bound to the tenant (`claim`)
        for row security; until a tenant is known it is bound to none, which shows nothing."""
        target = self.claim(tenant_id)
        connection = self._connection
        if connection is None:
            connection = self._connection = await self._pool.acquire()
        if connection.bound_tenant() != target:
            await connection.execute(SET_TENANT, target)
            connection.remember_tenant(target)
        return connection

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
        command: Command | None = None
        connection = self._connection
        try:
            if exc_type is None:
                if self._store.needs_transaction and not self._in_transaction:
                    # A `read_types` condition is checked inside a transaction (store.py).
                    await self.begin(self._store.pending_tenant)
                if self._in_transaction:
                    assert connection is not None  # `begin` took it
                    await self._store.check_conditions(connection)
                    if self.pending_key is not None:
                        await self.keys.write(connection, self.pending_key)
                    await connection.execute("COMMIT")
                    self.position = self._store.last_position
                else:
                    command = await self._store.command(self.pending_key, self._bound or "")
            elif self._in_transaction and connection is not None and not connection.is_closed():
                # A setting made inside the transaction reverts with it.
                connection.remember_tenant(None)
                try:
                    await connection.execute("ROLLBACK")
                except Exception:
                    # Mid-statement (a cancelled request) or broken: drop the session,
                    # which rolls back, rather than hide the original error.
                    connection.terminate()
        except BaseException as failure:
            # `command` may have taken the session (a key written alone).
            connection = self._connection
            if connection is not None and self._in_transaction:
                # A failed COMMIT rolled back, and a setting made in the transaction with it.
                connection.remember_tenant(None)
            if connection is not None and isinstance(failure, BROKEN):
                connection.terminate()
            raise
        finally:
            connection = self._connection
            if connection is not None:
                if isinstance(exc, BROKEN):
                    # A broken (or interrupted) session must not go back to the pool.
                    connection.terminate()
                try:
                    await self._pool.release(connection)
                except Exception:
                    connection.terminate()
        if command is not None:
            # Written by the process's group commit, on its own session: this one is back in
            # the pool already, for the next request's reads while the batch is written.
            self.position = await self.group_commit.write(command)
        if self.position and self._on_commit is not None:
            self._on_commit(self.position)


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
