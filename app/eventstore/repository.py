"""Load an aggregate by replaying its stream; save its pending events with the expected version."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from app.eventstore.port import NewEvent, StoredEvent
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Aggregate, NotFoundError, event_class

A = TypeVar("A", bound=Aggregate)


async def load(
    uow: UnitOfWork,
    cls: type[A],
    aggregate_id: str,
    *,
    to_version: int | None = None,
    until: datetime | None = None,
) -> A:
    stream_id = cls.stream_id_for(aggregate_id)
    tenant = uow.snapshot_tenant()
    if tenant is None or to_version is not None or until is not None:
        records = await uow.events.load(stream_id, to_version=to_version, until=until)
        return cls.replay(aggregate_id, (event_class(r.type).from_data(r.data) for r in records))
    # The current state: from the latest snapshot, plus whatever was appended since.
    assert uow.snapshots is not None
    aggregate = uow.snapshots.get(tenant, stream_id)
    if not isinstance(aggregate, cls):
        aggregate = cls(aggregate_id)
    records = await uow.events.load(stream_id, after_version=aggregate.version)
    for record in records:
        aggregate.apply(event_class(record.type).from_data(record.data))
        aggregate.version += 1
    if records:
        uow.snapshots.put(tenant, aggregate)
    return aggregate


def peek(uow: UnitOfWork, cls: type[A], aggregate_id: str) -> A | None:
    """The aggregate as this process last loaded it, read-only, or None: a hint (such as which
    streams to prefetch), never a substitute for `load`, which sees what was appended since."""
    tenant = uow.snapshot_tenant()
    if tenant is None or uow.snapshots is None:
        return None
    held = uow.snapshots.peek(tenant, cls.stream_id_for(aggregate_id))
    return held if isinstance(held, cls) else None


async def load_existing(
    uow: UnitOfWork, cls: type[A], aggregate_id: str, *, tenant_id: str
) -> tuple[A, list[StoredEvent]]:
    """Load an aggregate that must exist in this tenant; anything else is simply not found."""
    records = await uow.events.load(cls.stream_id_for(aggregate_id))
    if not records or records[0].tenant_id != tenant_id:
        raise NotFoundError(f"{cls.__name__.lower()} {aggregate_id} not found", id=aggregate_id)
    aggregate = cls.replay(aggregate_id, (event_class(r.type).from_data(r.data) for r in records))
    return aggregate, records


async def save(
    uow: UnitOfWork, aggregate: Aggregate, *, tenant_id: str, project_id: str | None = None
) -> list[StoredEvent]:
    """Append the aggregate's pending events after the version it was loaded at."""
    new = [NewEvent(e.type, e.to_data(), e.schema_version) for e in aggregate.pending]
    stored = await uow.events.append(
        aggregate.stream_id,
        aggregate.version,
        new,
        context=uow.context(tenant_id),
        project_id=project_id,
    )
    aggregate.version += len(stored)
    aggregate.pending.clear()
    return stored


async def created_at(uow: UnitOfWork, cls: type[Aggregate], aggregate_id: str) -> datetime | None:
    """When the aggregate was created: the time its first event was recorded (timezone-aware).
    One indexed read of one event; None for a stream with no events."""
    first = await uow.events.load(cls.stream_id_for(aggregate_id), to_version=1)
    return first[0].recorded_at if first else None
