"""The live runner's window on the event store: read and decoded once for all its projectors.

Every projector of a runner applies the same recent events; instead of each reading them in
its own transaction, the first that needs newer events fetches them and the others take them
from memory. This is safe because events are immutable and appends are serialised and
gapless (app.eventstore.reads, app.eventstore.postgres): whatever a snapshot sees is a
committed prefix of the store, so a projector may apply it in its own transaction (under its
locked checkpoint) at any time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.eventstore.port import StoredEvent
from app.eventstore.postgres import READ_AFTER, stored_event
from app.readside.projector import read_batch


class EventFeed:
    """Recent events in position order, held while some projector of this runner needs them."""

    def __init__(self, *, hold: int = 20_000, fresh: float = 0.01) -> None:
        self._events: list[StoredEvent] = []  # positions base+1 .. base+len, no gaps
        self._base = 0
        self._hold = hold
        # A fetch younger than this answers everyone woken by the same commits.
        self._fresh = fresh
        self._fetched_at = -1.0
        self._lock = asyncio.Lock()

    @property
    def head(self) -> int:
        return self._base + len(self._events)

    async def read(
        self, connection: AsyncConnection, after: int, span: int, types: Iterable[str]
    ) -> tuple[list[StoredEvent], int]:
        """Events in (after, upto] and upto, like read_batch (but of every type) from memory."""
        if after < self._base:
            # Behind the window (a projector catching up): read the store directly.
            return await read_batch(connection, after, span, types)
        loop = asyncio.get_running_loop()
        if self.head < after + span and loop.time() - self._fetched_at > self._fresh:
            async with self._lock:
                if loop.time() - self._fetched_at > self._fresh:
                    await self._fetch(connection, span)
                    self._fetched_at = loop.time()
        if after < self._base or after > self.head:
            return await read_batch(connection, after, span, types)
        upto = min(self.head, after + span)
        start = after - self._base
        return self._events[start : upto - self._base], upto

    async def _fetch(self, connection: AsyncConnection, span: int) -> None:
        driver: Any = (await connection.get_raw_connection()).driver_connection
        rows = await driver.fetch(READ_AFTER, self.head, span)
        expected = self.head + 1
        for r in rows:
            if r[0] != expected:
                break  # never expected (gapless appends); stop at a gap rather than skip it
            self._events.append(stored_event(r))
            expected += 1
        if len(self._events) > self._hold:
            self.trim(self.head - self._hold)

    def trim(self, upto: int) -> None:
        """Forget the events at or below `upto` (every leading projector is past them)."""
        drop = min(upto - self._base, len(self._events))
        if drop > 0:
            del self._events[:drop]
            self._base += drop

    def reset(self, position: int) -> None:
        """Start the window at `position` (empty), e.g. when the runner starts."""
        self._events.clear()
        self._base = position
