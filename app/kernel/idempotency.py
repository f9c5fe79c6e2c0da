"""Idempotency-Key records, written in the same transaction as the command's events."""

from __future__ import annotations

import abc
import dataclasses
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.db import idempotency_key
from app.kernel.domain import ConcurrencyError


@dataclasses.dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    request_hash: str
    status: int
    body: dict[str, Any]


class IdempotencyStore(abc.ABC):
    @abc.abstractmethod
    async def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    async def put(
        self, tenant_id: str, user_id: str, key: str, record: IdempotencyRecord, at: datetime
    ) -> None:
        """Store the first answer; a concurrent twin loses with ConcurrencyError."""


class SqlIdempotencyStore(IdempotencyStore):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyRecord | None:
        t = idempotency_key.c
        row = (
            await self._connection.execute(
                sa.select(t.request_hash, t.status, t.body).where(
                    t.tenant_id == uuid.UUID(tenant_id),
                    t.user_id == uuid.UUID(user_id),
                    t.key == key,
                )
            )
        ).first()
        return None if row is None else IdempotencyRecord(row.request_hash, row.status, row.body)

    async def put(
        self, tenant_id: str, user_id: str, key: str, record: IdempotencyRecord, at: datetime
    ) -> None:
        try:
            await self._connection.execute(
                idempotency_key.insert().values(
                    tenant_id=uuid.UUID(tenant_id),
                    user_id=uuid.UUID(user_id),
                    key=key,
                    request_hash=record.request_hash,
                    status=record.status,
                    body=record.body,
                    created_at=at,
                )
            )
        except IntegrityError:
            raise ConcurrencyError("idempotency key used concurrently", key=key) from None


class InMemoryIdempotencyStore(IdempotencyStore):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], IdempotencyRecord] = {}

    async def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyRecord | None:
        return self.records.get((tenant_id, user_id, key))

    async def put(
        self, tenant_id: str, user_id: str, key: str, record: IdempotencyRecord, at: datetime
    ) -> None:
        if (tenant_id, user_id, key) in self.records:
            raise ConcurrencyError("idempotency key used concurrently", key=key)
        self.records[(tenant_id, user_id, key)] = record
