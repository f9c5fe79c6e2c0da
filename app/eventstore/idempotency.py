"""Idempotency-Key records, written in the same transaction as the command's events."""

from __future__ import annotations

import abc
import dataclasses
from datetime import datetime
from typing import Any

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
