"""Backfill: the events of one channel after a position, as the relay published them.

Gateway nodes ask for this when a client resumes (`since`) or when they notice a gap on the live
stream; they never query the database themselves (STYLE 6). Envelopes are built with the relay's
own functions (`envelope_of`, `scoped_channels`), so a backfilled event is byte-for-byte what the
relay published, `prev` included. The answer says whether the range is complete: a page of
`limit` events with more behind it is reported as incomplete, never as the whole range.

Scopes: `project:<uuid>` and `tenant` are the broker channels of that tenant; `access` is the
tenant's access events (membership, role, deactivation), which gateways use to honour
authorization at each replayed event. Other `<kind>:<uuid>` scopes are channels a context
publishes from its own outbox (a user's inbox, `notifications:<uuid>`): the composition root
binds a `ScopeReader` per kind (app/readmodels.py), since this layer knows no context.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.reads import to_stored
from app.kernel.db import event as event_table
from app.kernel.db import scope_to_tenant, snapshot
from app.relay.cursors import envelope_of, scoped_channels
from app.relay.store import Scope, previous_on_query
from realtime.envelope import ACCESS_EVENT_TYPES, project_channel, tenant_channel

MAX_LIMIT = 10_000


class BackfillError(ValueError):
    """A request that names no valid scope."""


@dataclass(frozen=True, slots=True)
class BackfillQuery:
    tenant: str
    scope: str  # "tenant" | "project:<uuid>" | "access" | "<reader kind>:<uuid>"
    after: int
    limit: int

    @property
    def key(self) -> str:
        """The uuid of a `<kind>:<uuid>` scope (canonical form); "" for tenant and access."""
        return self.scope.partition(":")[2]


# Reads one `<kind>:<uuid>` scope from a context's own outbox, answering as `backfill` does.
ScopeReader = Callable[[AsyncEngine, str, BackfillQuery], Awaitable[dict[str, Any]]]
ScopeReaders = Mapping[str, ScopeReader]  # by kind, e.g. {"notifications": ...}
NO_READERS: ScopeReaders = {}


def parse_query(params: dict[str, str], kinds: ScopeReaders = NO_READERS) -> BackfillQuery:
    """The query's scope must be tenant, access, project:<uuid> or `<kind>:<uuid>` of `kinds`."""
    try:
        tenant = str(uuid.UUID(params.get("tenant", "")))
        after = int(params.get("after", ""))
        limit = int(params.get("limit", "1000"))
    except ValueError:
        raise BackfillError("tenant must be a uuid, after and limit integers") from None
    scope = params.get("scope", "")
    kind, colon, key = scope.partition(":")
    if colon and (kind == "project" or kind in kinds):
        try:
            scope = f"{kind}:{uuid.UUID(key)}"
        except ValueError:
            raise BackfillError(f"bad {kind} id") from None
    elif scope not in ("tenant", "access"):
        named = " or ".join(f"{k}:<uuid>" for k in ("project", *sorted(kinds)))
        raise BackfillError(f"scope must be tenant, access or {named}")
    if after < 0 or not 0 < limit <= MAX_LIMIT:
        raise BackfillError(f"after >= 0 and 0 < limit <= {MAX_LIMIT}")
    return BackfillQuery(tenant, scope, after, limit)


async def backfill(
    engine: AsyncEngine, prefix: str, q: BackfillQuery, readers: ScopeReaders = NO_READERS
) -> dict[str, Any]:
    """`{"events": [envelope...], "complete": bool}` for the query, in position order.

    Runs as whoever `engine` connects as, scoped to the query's tenant: the API passes its
    request engine (the app role), so row-level security shows this tenant's rows only, and
    every statement also names the tenant. Rows and the first `prev` come from one snapshot.
    """
    reader = readers.get(q.scope.partition(":")[0])
    if reader is not None:
        return await reader(engine, prefix, q)
    e = event_table
    query = e.select().where(e.c.position > q.after, e.c.tenant_id == uuid.UUID(q.tenant))
    channel: str | None
    scope: Scope = ("access", q.tenant, None)
    if q.scope.startswith("project:"):
        project = q.scope[len("project:") :]
        query = query.where(e.c.project_id == uuid.UUID(project))
        channel = project_channel(prefix, q.tenant, project)
        scope = ("project", q.tenant, project)
    elif q.scope == "tenant":
        channel = tenant_channel(prefix, q.tenant)
        scope = ("tenant", q.tenant, None)
    else:
        query = query.where(e.c.type.in_(sorted(ACCESS_EVENT_TYPES)))
        channel = None
    query = query.order_by(e.c.position).limit(q.limit + 1)
    prev: int | None = None
    async with snapshot(engine) as conn:
        await scope_to_tenant(conn, q.tenant)
        rows = [to_stored(row) for row in await conn.execute(query)]
        if rows and channel is not None:
            found = await conn.scalar(previous_on_query(scope, rows[0].position))
            prev = None if found is None else int(found)
    complete = len(rows) <= q.limit
    rows = rows[: q.limit]
    events = []
    for stored in rows:
        env = envelope_of(stored)
        if channel is None:  # access events: addressed to the channel they concern most
            channel_of = scoped_channels(prefix, env)[-1][0]
            events.append(env.on_channel(channel_of, None).to_dict())
            continue
        events.append(env.on_channel(channel, prev).to_dict())
        prev = stored.position
    return {"events": events, "complete": complete}
