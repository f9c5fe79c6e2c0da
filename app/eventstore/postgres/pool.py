"""The asyncpg pool of the write path; its sessions remember the tenant they are bound to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]

from app.eventstore.postgres.errors import BROKEN, CONNECTION_ERRORS
from app.eventstore.postgres.group import GroupCommit

__all__ = ["BROKEN", "CONNECTION_ERRORS", "PgPool", "TenantSession", "asyncpg_dsn"]


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN for a SQLAlchemy `postgresql+asyncpg://` URL."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


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
        # The process's group commit (see group.py): its own session, opened on first write.
        self.group_commit = GroupCommit(self._dsn)

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
        await self.group_commit.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
