"""An in-process "something was committed" signal: wakes the relay and projections at once.

PostgreSQL LISTEN/NOTIFY does the same across processes; this one covers the embedded default
and saves the round trip inside the API process.
"""

from __future__ import annotations

import asyncio


class CommitSignal:
    def __init__(self) -> None:
        self.head = 0
        self._changed = asyncio.Event()

    def notify(self, position: int) -> None:
        if position > self.head:
            self.head = position
        self._changed.set()

    async def wait(self, timeout: float) -> None:
        """Return when a commit is signalled or `timeout` passes, whichever is first."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
        self._changed.clear()
