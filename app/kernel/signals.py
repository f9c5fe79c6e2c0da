"""An in-process "something was committed" signal: wakes the relay and projections at once.

PostgreSQL LISTEN/NOTIFY does the same across processes; this one covers the embedded default
and saves the round trip inside the API process. Each listener is called synchronously on
every commit, so no listener can miss one because another consumed it.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int], None]


class CommitSignal:
    def __init__(self) -> None:
        self.head = 0
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(position)` on every commit; answers the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def notify(self, position: int) -> None:
        if position > self.head:
            self.head = position
        for listener in list(self._listeners):
            listener(position)
