"""The PostgreSQL adapter of the event store: the lean write path, with hand-written SQL on raw
asyncpg connections (the unit of work, event store and idempotency store).

By role: `pool` (sessions bound to a tenant), `uow` (the unit of work), `store` (appends and
loads), `group` (the group commit), `idempotency` (Idempotency-Key responses), `errors` (the
driver errors that break a session) and `sql` (every statement).

The one adapter of the ports `UnitOfWork`, `EventStore` and `IdempotencyStore` (beside the
in-memory fakes of the unit tests). A typical command costs two round trips and holds no lock
across the network:

1. load the aggregate's stream, together with the streams the handler announced it will load
   next (`EventStore.prefetch`; those loads are then answered from memory). Reads run
   outside any transaction, under row-level security for the tenant the session is bound to
   (a session-level `app.tenant_id`, set only when the pooled session served another tenant);
   The session is taken from the pool by the first statement: a command that only appends
   takes none (its tenant is claimed without a round trip);
2. at commit, the session goes back to the pool and the command joins the process's group
   commit (`group`): with the commands that reached their commit meanwhile, from any tenant,
   it is written by one call of `collabspace_append_batch` (migrations 0008, 0011), its own
   transaction: positions, every event, the Idempotency-Key responses and one NOTIFY.

Positions are allocated under the row lock of `event_head` (taken by both append functions,
the only ways the app role may append): it serialises the batches until their commit, and each
batch reads the latest committed head, so commit order equals position order and positions have
no holes (DESIGN.md, "Global position is the spine"). Each command of a batch is checked on its
own under that lock (expected versions, Idempotency-Key), so a stale command fails alone. The
lock is held for the call and its WAL flush only, never across a round trip to this process;
and one flush now commits a whole batch, where it committed one command before.

Commands that also write other tables (the user directory: sign-up, invitations, user changes)
open a real transaction at their first such write; their appends then run inside it, on their
own session, through `collabspace_append` (one command, the head lock held until that
transaction commits): they bypass the group commit and stay atomic with their other writes.
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
