"""Leader election for the relay: exactly one process publishes at a time.

On PostgreSQL the leader holds a session advisory lock on a dedicated connection. The lock lives
exactly as long as that session, so a leader that dies (killed, partitioned, crashed) frees it
and a standby's next `pg_try_advisory_lock` wins. The same connection carries LISTEN for commit
notifications: only the leader needs them, and both die together.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL

from app.eventstore.reads import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# pg_advisory_lock key for "the relay leader" ("CoSR" in ASCII); distinct from the append lock.
RELAY_LOCK_KEY = 0x436F5352


class LeadershipError(Exception):
    """The lock connection could not be opened or used; the caller backs off and retries."""


class Leadership(abc.ABC):
    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """True while this process may publish; flips to False as soon as the lock is lost."""

    @abc.abstractmethod
    async def acquire(self) -> bool:
        """Try once to become the leader; never waits for the lock."""

    @abc.abstractmethod
    async def release(self) -> None: ...


def asyncpg_dsn(url: URL | str) -> str:
    """The SQLAlchemy `postgresql+asyncpg://` URL as a plain DSN for asyncpg.connect."""
    if isinstance(url, str):
        return url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLeader(Leadership):
    """Session advisory lock on its own connection, watched by a ping so loss is noticed fast."""

    def __init__(
        self,
        dsn: str,
        *,
        key: int = RELAY_LOCK_KEY,
        on_notify: Callable[[int], None] | None = None,
        on_lost: Callable[[], None] | None = None,
        check_interval: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._key = key
        self._on_notify = on_notify
        self._on_lost = on_lost
        self._check_interval = check_interval
        self._timeout = timeout
        self._conn: asyncpg.Connection | None = None
        self._held = False
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        return self._held and self._conn is not None and not self._conn.is_closed()

    async def acquire(self) -> bool:
        if self.held:
            return True
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
                self._conn.add_termination_listener(self._terminated)
            got = await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._timeout
            )
            if got and self._on_notify is not None:
                await self._conn.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise LeadershipError(f"lock connection: {exc!r}") from None
        if got:
            self._held = True
            self._watchdog = asyncio.create_task(self._watch(), name="relay-leader-watchdog")
        return bool(got)

    async def release(self) -> None:
        # Closing the session is the one sure way to free a session lock, even mid-query.
        await self._drop()

    async def _watch(self) -> None:
        # A half-open TCP connection never reports termination; a ping with a timeout does.
        conn = self._conn
        while conn is not None and self._held:
            await asyncio.sleep(self._check_interval)
            try:
                await conn.fetchval("SELECT 1", timeout=self._timeout)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("relay lock connection failed (%r): leadership lost", exc)
                self._lost()
                self._close_now(conn)
                return

    def _terminated(self, _conn: Any) -> None:
        if self._held:
            log.warning("relay lock connection closed: leadership lost")
            self._lost()

    def _lost(self) -> None:
        self._held = False
        if self._on_lost is not None:
            self._on_lost()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._on_notify is None:
            return
        with contextlib.suppress(ValueError):
            self._on_notify(int(payload))

    async def _drop(self) -> None:
        self._held = False
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                async with asyncio.timeout(self._timeout):
                    await conn.close()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    @staticmethod
    def _close_now(conn: asyncpg.Connection) -> None:
        if not conn.is_closed():
            conn.terminate()
