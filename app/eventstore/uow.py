"""The unit of work: one transaction per command, holding the event store and what it wrote."""

from __future__ import annotations

import abc
import dataclasses
from types import TracebackType
from typing import Self

from app.eventstore.idempotency import IdempotencyStore
from app.eventstore.port import AppendContext, EventStore
from app.eventstore.snapshots import SnapshotCache
from app.kernel.clock import Clock, utc_now


@dataclasses.dataclass(frozen=True, slots=True)
class CommandMeta:
    """Who sent a command and under which correlation id; stamped on every event it writes."""

    actor_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    # The caller's tenant: PostgreSQL row-level security lets the transaction see only its rows.
    tenant_id: str | None = None


class UnitOfWork(abc.ABC):
    """`async with uow:` opens a transaction and commits it on a clean exit, else rolls back."""

    events: EventStore
    idempotency: IdempotencyStore
    meta: CommandMeta = CommandMeta()
    clock: Clock = staticmethod(utc_now)
    # The highest position this unit of work wrote, once committed (0 when it wrote nothing).
    position: int = 0
    # Aggregate snapshots shared by the units of work of one factory (None: always replay).
    snapshots: SnapshotCache | None = None

    def snapshot_tenant(self) -> str | None:
        """The tenant whose snapshots this unit of work may use: the one its reads are scoped
        to, when the store scopes reads by tenant and snapshots are on; else None."""
        return None

    def context(self, tenant_id: str) -> AppendContext:
        return AppendContext(
            tenant_id=tenant_id,
            recorded_at=self.clock(),
            actor_id=self.meta.actor_id,
            correlation_id=self.meta.correlation_id,
            causation_id=self.meta.causation_id,
        )

    @abc.abstractmethod
    async def __aenter__(self) -> Self: ...

    @abc.abstractmethod
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
