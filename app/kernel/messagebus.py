"""The message bus: every command has exactly one handler, run in its own unit of work.

It owns the transaction boundary (handlers never commit), the bounded retry of commands that
lost an optimistic-concurrency race, and the Idempotency-Key replay.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from app.eventstore.idempotency import IdempotencyRecord
from app.eventstore.uow import CommandMeta, UnitOfWork
from app.kernel.domain import ConcurrencyError, InvalidInputError

log = logging.getLogger(__name__)

# A command without If-Match re-reads and re-checks the rules this many times before giving up.
MAX_ATTEMPTS = 5


@dataclasses.dataclass(frozen=True, slots=True)
class CommandResult:
    """What a mutation answers: the aggregate it touched, its new version, the position written."""

    id: str
    version: int
    position: int
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "position": self.position, **self.extra}


@dataclasses.dataclass(frozen=True, slots=True)
class Idempotency:
    tenant_id: str
    user_id: str
    key: str
    request_hash: str
    status: int


class IdempotencyMismatchError(InvalidInputError):
    """The key was first used with another request: 422 on the Idempotency-Key field."""

    code = "idempotency_key_reused"


def request_hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


Handler = Callable[[Any, UnitOfWork], Awaitable[CommandResult]]
NO_META = CommandMeta()


class MessageBus:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], handlers: dict[type, Handler]):
        self._uow_factory = uow_factory
        self._handlers = handlers

    async def handle(
        self,
        command: Any,
        *,
        meta: CommandMeta = NO_META,
        idempotency: Idempotency | None = None,
        retry: bool = True,
    ) -> tuple[int | None, dict[str, Any]]:
        """Run `command`; answer (stored status or None, body). A replayed key writes nothing."""
        handler = self._handlers[type(command)]
        attempts = MAX_ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(handler, command, meta, idempotency)
            except ConcurrencyError:
                if attempt == attempts:
                    raise
                log.debug("retrying %s after a concurrent write", type(command).__name__)
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        handler: Handler,
        command: Any,
        meta: CommandMeta,
        idempotency: Idempotency | None,
    ) -> tuple[int | None, dict[str, Any]]:
        uow = self._uow_factory()
        uow.meta = meta
        async with uow:
            if idempotency is not None:
                seen = await uow.idempotency.get(
                    idempotency.tenant_id, idempotency.user_id, idempotency.key
                )
                if seen is not None:
                    if seen.request_hash != idempotency.request_hash:
                        raise IdempotencyMismatchError(
                            "this Idempotency-Key was used with a different request",
                            field="Idempotency-Key",
                        )
                    return seen.status, seen.body
            result = await handler(command, uow)
            body = result.to_dict()
            if idempotency is not None:
                await uow.idempotency.put(
                    idempotency.tenant_id,
                    idempotency.user_id,
                    idempotency.key,
                    IdempotencyRecord(idempotency.request_hash, idempotency.status, body),
                    uow.clock(),
                )
        if uow.position:
            # The position the commit wrote: a unit of work may only learn it at commit.
            body["position"] = uow.position
        return None, body
