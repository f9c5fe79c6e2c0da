"""Read-your-writes in a process that runs no projections: watch the checkpoints in the table.

The API beside a worker (`RUN_PROJECTIONS=0`, the recommended topology) has no runner to ask
how far the read models are. A query with `?min_position=` waits here instead: one poller per
process reads `projection_checkpoint` every `interval` while anyone waits, and wakes every
waiter after each read, so a thousand waiting requests cost one query per interval, and a
process with nobody waiting costs none. It answers the same question as
`ProjectionRunner.wait_for`, which the API uses when it runs the projections itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.readside.projector import read_checkpoints

log = logging.getLogger(__name__)


class CheckpointWatch:
    def __init__(self, engine: AsyncEngine, names: Collection[str], interval: float = 0.01):
        self._engine = engine
        self.names = list(names)
        self.positions = dict.fromkeys(self.names, 0)
        self._interval = interval
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()

    async def wait_for(
        self, position: int, timeout: float, names: Collection[str] | None = None
    ) -> bool:
        """Wait until the named projections (default: all) reach `position`; False on timeout."""
        wanted = list(names) if names is not None else self.names
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not all(self.positions.get(n, 0) >= position for n in wanted):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._waiters += 1
            try:
                if self._poller is None or self._poller.done():
                    self._poller = asyncio.create_task(self._poll(), name="checkpoint-watch")
                tick = self._tick
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await tick.wait()
            finally:
                self._waiters -= 1
        return True

    async def _poll(self) -> None:
        while self._waiters:
            try:
                async with self._engine.connect() as connection:
                    seen = await read_checkpoints(connection, self.names)
            except (OSError, DBAPIError) as exc:
                # The query that follows will answer 503; a waiter just sees no progress.
                log.debug("checkpoints unreadable: %s", type(exc).__name__)
                seen = {}
            for name, value in seen.items():
                self.positions[name] = max(self.positions.get(name, 0), value)
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
