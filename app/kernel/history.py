"""History and time travel, one view for every context: an aggregate's events as plain dicts, and
its state as of a version or a time (GET .../history and .../state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from app.eventstore import repository
from app.eventstore.port import StoredEvent
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Aggregate, InvalidInputError

A = TypeVar("A", bound=Aggregate)


def event_dict(record: StoredEvent) -> dict[str, Any]:
    return {
        "position": record.position,
        "version": record.version,
        "type": record.type,
        "schema_version": record.schema_version,
        "data": record.data,
        "actor_id": record.metadata.get("actor_id"),
        "recorded_at": record.recorded_at.isoformat(),
    }


def state_dict(aggregate: Aggregate) -> dict[str, Any]:
    """The aggregate's public attributes (what replay rebuilt), without its pending events;
    a set (a project's managers) is answered as a sorted list."""
    return {
        key: sorted(value)
        if isinstance(value, set | frozenset)
        else list(value)
        if isinstance(value, list | tuple)
        else value
        for key, value in vars(aggregate).items()
        if key != "pending" and not key.startswith("_")
    }


async def events_of(
    uow: UnitOfWork, cls: type[Aggregate], aggregate_id: str
) -> list[dict[str, Any]]:
    return [event_dict(r) for r in await uow.events.load(cls.stream_id_for(aggregate_id))]


async def state_as_of(
    uow: UnitOfWork,
    cls: type[A],
    aggregate_id: str,
    *,
    as_of_version: int | None = None,
    as_of: datetime | None = None,
) -> A:
    """Replay the stream up to a version and/or a time; the caller decides what "missing" means."""
    if as_of_version is not None and as_of_version < 1:
        raise InvalidInputError("as_of_version starts at 1", field="as_of_version")
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInputError("as_of needs a timezone (e.g. ...Z)", field="as_of")
    return await repository.load(uow, cls, aggregate_id, to_version=as_of_version, until=as_of)


# Loads the aggregate for whoever may read it now, else raises the context's "not found".
Readable = Callable[[UnitOfWork], Awaitable[Any]]


async def history_view(
    uow: UnitOfWork, cls: type[Aggregate], aggregate_id: str, *, key: str, readable: Readable
) -> dict[str, Any]:
    """The aggregate's events in order; readable only by who may read it now."""
    async with uow:
        current = await readable(uow)
        events = await events_of(uow, cls, aggregate_id)
    return {key: aggregate_id, "version": current.version, "events": events}


async def state_view(
    uow: UnitOfWork,
    cls: type[Aggregate],
    aggregate_id: str,
    *,
    key: str,
    readable: Readable,
    missing: Callable[[], Exception],
    as_of_version: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The aggregate as it was at a version and/or a time, rebuilt by replaying its events;
    `missing()` is raised when it did not exist yet at that point."""
    async with uow:
        current = await readable(uow)
        if as_of_version is not None and as_of_version > current.version:
            # Replay would stop at the end and answer today's state as if it were that version.
            raise InvalidInputError(
                f"as_of_version {as_of_version} is past the current version {current.version}",
                field="as_of_version",
            )
        past = await state_as_of(uow, cls, aggregate_id, as_of_version=as_of_version, as_of=as_of)
    if not past.exists:
        raise missing()
    return {key: aggregate_id, "version": past.version, "state": state_dict(past)}
