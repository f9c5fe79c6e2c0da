"""The event store port: append(stream, expected_version, events) / load(stream), and its records.

Global position is the spine of the system: every adapter must guarantee that an event with a
lower position is never made visible after one with a higher position (a tailing reader would
skip it). The SQL adapter does this by serialising appends; the in-memory one trivially.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from app.kernel.domain import ConcurrencyError


@dataclasses.dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    data: dict[str, Any]
    schema_version: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    stream_id: str
    version: int
    tenant_id: str
    project_id: str | None
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AppendContext:
    """Who and why: stored with every event of one command."""

    tenant_id: str
    recorded_at: datetime
    actor_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    def metadata(self) -> dict[str, Any]:
        return {
            "actor_id": self.actor_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class TypesRead:
    """A `read_types` of a unit of work, as a condition of its commit: no other event of these
    types (of this project) may commit after the last one it answered (`after_position`)."""

    tenant_id: str
    types: frozenset[str]
    project_id: str | None
    after_position: int

    def is_news(self, e: StoredEvent) -> bool:
        """Whether `e` is an event this read would answer now but did not then."""
        return (
            e.position > self.after_position
            and e.tenant_id == self.tenant_id
            and e.type in self.types
            and (self.project_id is None or e.project_id == self.project_id)
        )


def records_for(
    stream_id: str,
    expected_version: int,
    events: list[NewEvent],
    *,
    context: AppendContext,
    project_id: str | None,
    after_position: int,
) -> list[StoredEvent]:
    """The records of a successful append: versions after `expected_version`, positions after
    `after_position`, one context for all. Every adapter answers with exactly these."""
    metadata = context.metadata()
    return [
        StoredEvent(
            position=after_position + offset,
            stream_id=stream_id,
            version=expected_version + offset,
            tenant_id=context.tenant_id,
            project_id=project_id,
            type=e.type,
            schema_version=e.schema_version,
            data=e.data,
            metadata=metadata,
            recorded_at=context.recorded_at,
        )
        for offset, e in enumerate(events, start=1)
    ]


class EventStore(abc.ABC):
    """Append-only streams; (stream_id, version) is the optimistic lock."""

    @abc.abstractmethod
    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        """Append after `expected_version`, or raise ConcurrencyError if the stream moved on.

        The records' versions are final. Their positions may be assigned only when the unit of
        work commits (the asyncpg adapter writes at commit, and may raise ConcurrencyError
        there); the committed position is then the unit of work's `position`.
        """

    @abc.abstractmethod
    def expect(self, stream_id: str, version: int) -> None:
        """A condition of this unit of work's appends: `stream_id`, which it read but does not
        write, must still be at `version` when they commit (a decision that rests on another
        aggregate's state: assigning checks the project's members). If it moved on, the commit
        raises ConcurrencyError and writes nothing, as a stale append would. The condition
        itself writes nothing and moves no version or position.

        A stream this unit of work also appends to needs no condition: the append's expected
        version guards it (and a load may already show the unit of work's own events), so the
        append replaces the condition.
        """

    @abc.abstractmethod
    async def load(
        self,
        stream_id: str,
        *,
        to_version: int | None = None,
        until: datetime | None = None,
        after_version: int = 0,
    ) -> list[StoredEvent]:
        """A stream's events in version order, optionally cut at a version or a time, and
        from `after_version` on (the tail after a snapshot)."""

    def prefetch(self, stream_ids: Iterable[str]) -> None:
        """Announce streams this unit of work is about to load, so that an adapter may read them
        in the same round trip as the next `load`.

        A hint: every load answers exactly as it would without it. The default reads nothing
        ahead (the in-memory fake has no round trips to save).
        """
        return None

    @abc.abstractmethod
    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        """Committed events after `position`, in position order (the tailing read)."""

    @abc.abstractmethod
    async def read_types(
        self, tenant_id: str, types: Sequence[str], *, project_id: str | None = None
    ) -> list[StoredEvent]:
        """Committed events of these types of one tenant (of one project, when given), in
        position order: how a command finds the streams a rule reaches beyond its own (the
        tasks assigned to a member who leaves). The store's truth, never a lagging read model.

        The read is also a condition of the unit of work's appends: if another event of these
        types (of that project) commits between this read and their commit, the commit raises
        ConcurrencyError and writes nothing (an assignment that committed after the removal
        looked for assignments). The PostgreSQL adapter then commits in a transaction, which
        checks it under the head's lock: a rare command's cost.
        """


def unmet_conditions(
    events: Sequence[StoredEvent], conditions: dict[str, int], written: set[str]
) -> list[str]:
    """The streams of `conditions` that moved on (their version in `events` is another), but
    for those the unit of work appended to itself (`written`: its appends guard them)."""
    versions: dict[str, int] = {}
    for e in events:
        if e.stream_id in conditions:
            versions[e.stream_id] = e.version
    return sorted(
        stream_id
        for stream_id, version in conditions.items()
        if stream_id not in written and versions.get(stream_id, 0) != version
    )


def new_since_read(
    events: Sequence[StoredEvent], reads: Sequence[TypesRead], mine: set[int]
) -> list[str]:
    """The streams of events that commited after a `read_types` would now answer them, but
    for the unit of work's own (positions in `mine`)."""
    return sorted(
        {e.stream_id for e in events if e.position not in mine and any(r.is_news(e) for r in reads)}
    )


class InMemoryEventStore(EventStore):
    """The fake: same contract, kept in lists. Used by unit tests and the contract suite.

    Each append commits at once, so the conditions (`expect`) are checked by every later
    append of this object; `unit()` gives one unit of work's view of the same events.
    """

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self._conditions: dict[str, int] = {}
        self._written: set[str] = set()
        self._reads: list[TypesRead] = []
        self._mine: set[int] = set()

    def unit(self) -> InMemoryEventStore:
        """A view of the same events with conditions of its own (one unit of work's)."""
        view = InMemoryEventStore()
        view.events = self.events
        return view

    def expect(self, stream_id: str, version: int) -> None:
        self._conditions[stream_id] = version

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: list[NewEvent],
        *,
        context: AppendContext,
        project_id: str | None = None,
    ) -> list[StoredEvent]:
        moved = unmet_conditions(self.events, self._conditions, self._written)
        moved += new_since_read(self.events, self._reads, self._mine)
        if moved:
            raise ConcurrencyError(
                f"{', '.join(moved)} moved on since this unit of work read it",
                stream_id=",".join(moved),
            )
        current = sum(1 for e in self.events if e.stream_id == stream_id)
        if current != expected_version:
            raise ConcurrencyError(
                f"{stream_id} is at version {current}, expected {expected_version}",
                stream_id=stream_id,
            )
        stored = records_for(
            stream_id,
            expected_version,
            [NewEvent(e.type, dict(e.data), e.schema_version) for e in events],
            context=context,
            project_id=project_id,
            after_position=len(self.events),
        )
        self.events.extend(stored)
        if stored:
            self._written.add(stream_id)
            self._mine.update(e.position for e in stored)
        return stored

    async def load(
        self,
        stream_id: str,
        *,
        to_version: int | None = None,
        until: datetime | None = None,
        after_version: int = 0,
    ) -> list[StoredEvent]:
        return [
            e
            for e in self.events
            if e.stream_id == stream_id
            and e.version > after_version
            and (to_version is None or e.version <= to_version)
            and (until is None or e.recorded_at <= until)
        ]

    async def read_after(self, position: int, limit: int) -> list[StoredEvent]:
        return [e for e in self.events if e.position > position][:limit]

    async def read_types(
        self, tenant_id: str, types: Sequence[str], *, project_id: str | None = None
    ) -> list[StoredEvent]:
        found = self.find_types(tenant_id, types, project_id=project_id)
        last = found[-1].position if found else 0
        self._reads.append(TypesRead(tenant_id, frozenset(types), project_id, last))
        return found

    def find_types(
        self, tenant_id: str, types: Sequence[str], *, project_id: str | None = None
    ) -> list[StoredEvent]:
        """What `read_types` answers, without making it a condition of this object's appends."""
        wanted = set(types)
        return [
            e
            for e in self.events
            if e.tenant_id == tenant_id
            and e.type in wanted
            and (project_id is None or e.project_id == project_id)
        ]
