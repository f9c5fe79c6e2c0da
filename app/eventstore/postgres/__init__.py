"""The PostgreSQL adapter of the event store: the lean write path, with hand-written SQL on raw
asyncpg connections (the unit of work, event store and idempotency store).

By role: `pool` (sessions bound to a tenant), `uow` (the unit of work), `store` (appends and
loads), `idempotency` (Idempotency-Key responses) and `sql` (every statement).

The one adapter of the ports `UnitOfWork`, `EventStore` and `IdempotencyStore` (beside the
in-memory fakes of the unit tests). A typical command costs two round trips and holds no lock
across the network:

1. load the aggregate's stream, together with the streams the handler announced it will load
   next (`EventStore.prefetch`; those loads are then answered from memory). Reads run
   outside any transaction, under row-level security for the tenant the session is bound to
   (a session-level `app.tenant_id`, set only when the pooled session served another tenant);
2. at commit, allocate positions, insert every event the command wrote (and its
   Idempotency-Key response), and queue the NOTIFY: one statement (see APPEND), which is its
   own transaction.

Positions are allocated by `UPDATE event_head SET position = position + n` (inside the
`collabspace_append` function of migration 0006, the only way the app role may append): its row lock
serialises appends until the statement's commit and the update re-reads the latest committed
head, so commit order equals position order and positions have no holes (DESIGN.md, "Global
position is the spine"). Because that statement commits by itself, the lock is held for the
statement and its WAL flush only, never across a round trip to this process, whose event loop
may be busy with other requests.

Commands that also write other tables (the user directory: sign-up, invitations, user changes)
open a real transaction at their first such write; their appends then run inside it.
"""

from app.eventstore.postgres.idempotency import PgIdempotencyStore
from app.eventstore.postgres.pool import CONNECTION_ERRORS, PgPool, TenantSession, asyncpg_dsn
from app.eventstore.postgres.sql import (
    HEAD,
    NOTIFY_CHANNEL,
    READ_AFTER,
    READ_RANGE,
    READ_RANGE_OF_PARTITION,
    stored_event,
)
from app.eventstore.postgres.store import PgEventStore
from app.eventstore.postgres.uow import PgUnitOfWork, pg_uow_factory

__all__ = [
    "CONNECTION_ERRORS",
    "HEAD",
    "NOTIFY_CHANNEL",
    "READ_AFTER",
    "READ_RANGE",
    "READ_RANGE_OF_PARTITION",
    "PgEventStore",
    "PgIdempotencyStore",
    "PgPool",
    "PgUnitOfWork",
    "TenantSession",
    "asyncpg_dsn",
    "pg_uow_factory",
    "stored_event",
]
