"""The PostgreSQL idempotency store: Idempotency-Key responses, kept with the events."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.eventstore.idempotency import IdempotencyRecord, IdempotencyStore
from app.eventstore.postgres.sql import IDEMPOTENCY_GET, IDEMPOTENCY_PUT
from app.kernel.domain import ConcurrencyError

if TYPE_CHECKING:
    from app.eventstore.postgres.uow import PgUnitOfWork


@dataclasses.dataclass(frozen=True, slots=True)
class PendingKey:
    """An Idempotency-Key response to store with the events, in the same statement."""

    tenant_id: str
    user_id: str
    key: str
    record: IdempotencyRecord
    at: datetime

    def params(self) -> tuple[Any, ...]:
        """user, key, request hash, status, body (JSON text), time: as both statements take."""
        record = self.record
        body = orjson.dumps(record.body).decode()
        return (self.user_id, self.key, record.request_hash, record.status, body, self.at)


class PgIdempotencyStore(IdempotencyStore):
    def __init__(self, uow: PgUnitOfWork) -> None:
        self._uow = uow

    async def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyRecord | None:
        connection = await self._uow.ready(tenant_id)
        row = await connection.fetchrow(IDEMPOTENCY_GET, tenant_id, user_id, key)
        return None if row is None else IdempotencyRecord(row[0], row[1], orjson.loads(row[2]))

    async def put(
        self, tenant_id: str, user_id: str, key: str, record: IdempotencyRecord, at: datetime
    ) -> None:
        """Kept for the commit: stored with the events, in the statement that writes them."""
        self._uow.claim(tenant_id)
        self._uow.pending_key = PendingKey(tenant_id, user_id, key, record, at)

    async def write(self, connection: asyncpg.Connection, key: PendingKey) -> None:
        """Store a response on its own (a command that wrote no event, or inside the
        transaction, where the response already carries its position)."""
        try:
            await connection.execute(IDEMPOTENCY_PUT, key.tenant_id, *key.params())
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError("idempotency key used concurrently", key=key.key) from None
