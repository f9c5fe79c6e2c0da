"""The SQL of the PostgreSQL event store: every statement the adapter runs, and the row decoder.

Appends go through the group commit's `collabspace_append_batch` (migration 0008, its statement
in group.py) or, inside a unit of work's transaction, `collabspace_append` (migration 0006); both
allocate positions under the `event_head` row lock; see the package docstring for why that keeps
commit order equal to position order.
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.eventstore.port import StoredEvent

NOTIFY_CHANNEL = "collabspace_events"

_COLUMNS = (
    "position, stream_id, version, tenant_id::text, project_id::text, type, schema_version,"
    " data::text, metadata::text, recorded_at"
)

LOAD = f"SELECT {_COLUMNS} FROM event WHERE stream_id = $1 AND version > $2 ORDER BY version"

# A stream (from a version on) and the whole of the streams a handler announced it will load next
# (`EventStore.prefetch`), in one round trip. Both halves are lookups on the primary key
# (stream_id, version). One announced stream (a task's project: the hot path) gets a statement
# of its own, whose cached generic plan is two plain index scans; `= ANY` serves any number.
LOAD_WITH_ONE = f"""
SELECT {_COLUMNS} FROM event WHERE stream_id = $1 AND version > $2
UNION ALL
SELECT {_COLUMNS} FROM event WHERE stream_id = $3
ORDER BY 2, 3
"""
LOAD_WITH = f"""
SELECT {_COLUMNS} FROM event WHERE stream_id = $1 AND version > $2
UNION ALL
SELECT {_COLUMNS} FROM event WHERE stream_id = ANY($3::text[])
ORDER BY 2, 3
"""

# Every event a unit of work wrote, across its streams, in one statement; $1..$9 are arrays with
# one element per event. `collabspace_append` (migration 0006) allocates the positions under the
# head's row lock and inserts them: the app role may not touch `event_head` or insert events
# itself. Used inside a unit of work's transaction (`begin`), which commits it.
_WRITTEN = """
WITH last AS (
    SELECT collabspace_append($1::uuid, $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::int2[], $7::text[], $8::text[], $9::timestamptz[]) AS position
)
"""
_NOTIFY = f"SELECT position, pg_notify('{NOTIFY_CHANNEL}', position::text) FROM last"
APPEND = _WRITTEN + _NOTIFY
# The group commit's write (group.py): many commands' events, keys and NOTIFY in one call of
# `collabspace_append_batch` (migration 0008), its own transaction; one row per command.
APPEND_BATCH = (
    "SELECT command, last_position, failure FROM collabspace_append_batch("
    "$1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::text[],"
    " $8::timestamptz[], $9::int[], $10::text[], $11::int[], $12::int[], $13::int[],"
    " $14::int[], $15::text[], $16::text[], $17::int2[], $18::text[], $19::text[],"
    " $20::timestamptz[])"
)
# The conditions of a unit of work's transaction (`EventStore.expect`): the streams ($1) that are
# not at their expected versions ($2). One backward probe of the primary key per stream.
MOVED_STREAMS = """
SELECT c.stream_id FROM unnest($1::text[], $2::int[]) AS c(stream_id, version)
WHERE coalesce((SELECT max(e.version) FROM event e WHERE e.stream_id = c.stream_id), 0)
      <> c.version
"""
# A `read_types` as a condition: an event of its types committed after the read's last answer
# ($3) and before the transaction's own first event ($4): $1 tenant, $2 types[, $5 project].
NEWS_OF_TYPES = (
    "SELECT stream_id FROM event WHERE tenant_id = $1::uuid AND type = ANY($2::text[])"
    " AND position > $3 AND position < $4 LIMIT 1"
)
NEWS_OF_TYPES_OF_PROJECT = (
    "SELECT stream_id FROM event WHERE project_id = $5::uuid AND tenant_id = $1::uuid"
    " AND type = ANY($2::text[]) AND position > $3 AND position < $4 LIMIT 1"
)
SET_TENANT = "SELECT set_config('app.tenant_id', $1, false)"

# Events of some types of one tenant, or of one of its projects (indexes on (tenant_id, position)
# and (project_id, position)): $1 tenant, $2 types[, $3 project].
READ_TYPES = (
    f"SELECT {_COLUMNS} FROM event WHERE tenant_id = $1::uuid AND type = ANY($2::text[])"
    " ORDER BY position"
)
READ_TYPES_OF_PROJECT = (
    f"SELECT {_COLUMNS} FROM event WHERE project_id = $3::uuid AND tenant_id = $1::uuid"
    " AND type = ANY($2::text[]) ORDER BY position"
)
READ_AFTER = f"SELECT {_COLUMNS} FROM event WHERE position > $1 ORDER BY position LIMIT $2"
# Events of some types in a position range (a projection's batch): (after, upto], types.
_RANGE = (
    f"SELECT {_COLUMNS} FROM event WHERE position > $1 AND position <= $2"
    " AND type = ANY($3::text[])"
)
READ_RANGE = _RANGE + " ORDER BY position"
# The same for the tenants one of $4 partitions holds ($5: which; a partitioned rebuild).
READ_RANGE_OF_PARTITION = (
    _RANGE + " AND (hashtext(tenant_id::text) & 2147483647) % $4 = $5 ORDER BY position"
)
HEAD = "SELECT coalesce(max(position), 0) FROM event"

IDEMPOTENCY_GET = (
    "SELECT request_hash, status, body::text FROM idempotency_key"
    " WHERE tenant_id = $1::uuid AND user_id = $2::uuid AND key = $3"
)
IDEMPOTENCY_PUT = (
    "INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash, status, body,"
    " created_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::jsonb, $7)"
)


def stored_event(row: asyncpg.Record) -> StoredEvent:
    """A row of READ_AFTER, READ_RANGE or the loads (same columns) as a StoredEvent."""
    # Positional: rebuilds and the projections' feed decode every event of the store here.
    position, stream_id, version, tenant, project, type_, schema, data, metadata, at = row
    return StoredEvent(
        position,
        stream_id,
        version,
        tenant,
        project,
        type_,
        schema,
        orjson.loads(data),
        orjson.loads(metadata),
        at,
    )
