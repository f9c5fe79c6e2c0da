"""Aggregate snapshots kept in memory: a long stream is replayed once per process, not per command.

An entry is an aggregate's state as of a version, exactly what replaying its first `version`
events gives. Events are immutable and versions dense, so an entry never goes wrong; it only
falls behind, and a load then reads and applies the tail after it (`after_version`). Entries are
keyed by the tenant the unit of work is bound to as well as the stream, so a load for another
tenant never sees one (row-level security decides what that tenant's reads return). Bounded,
least recently used first out.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import TypeVar

from app.kernel.domain import Aggregate

A = TypeVar("A", bound=Aggregate)


def clone(aggregate: A) -> A:
    """A copy that shares nothing mutable with the original (state is plain values and lists,
    sets or dicts of them)."""
    # Three clones per mutation (a task's snapshot out and in, its project's out): built
    # from the instance dict rather than by `copy.copy` (9 -> 4 µs each, measured).
    twin: A = object.__new__(type(aggregate))
    state = twin.__dict__
    for name, value in aggregate.__dict__.items():
        kind = type(value)
        if kind is list or kind is dict or kind is set:
            value = value.copy()
        elif isinstance(value, list | set | dict):
            value = copy.copy(value)
        state[name] = value
    twin.pending = []
    return twin


class SnapshotCache:
    def __init__(self, capacity: int = 20_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str], Aggregate] = OrderedDict()

    def get(self, tenant_id: str, stream_id: str) -> Aggregate | None:
        """A private copy of the latest snapshot of this stream, if any."""
        entry = self._entries.get((tenant_id, stream_id))
        if entry is None:
            return None
        self._entries.move_to_end((tenant_id, stream_id))
        return clone(entry)

    def peek(self, tenant_id: str, stream_id: str) -> Aggregate | None:
        """The latest snapshot itself, not a copy, for a caller that only reads it (a hint of
        what a load will find); it must never be changed."""
        return self._entries.get((tenant_id, stream_id))

    def put(self, tenant_id: str, aggregate: Aggregate) -> None:
        """Keep a copy of a freshly loaded aggregate (no pending events), if it is newer."""
        key = (tenant_id, aggregate.stream_id)
        held = self._entries.get(key)
        if held is not None and held.version >= aggregate.version:
            return
        self._entries[key] = clone(aggregate)
        self._entries.move_to_end(key)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
