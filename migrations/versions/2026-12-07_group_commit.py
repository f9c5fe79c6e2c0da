"""Group commit: one function call appends the events of many commands (issue 18).

Revision ID: 0008_group_commit
Revises: 0007_notifications_analytics
Create Date: 2026-12-07

`collabspace_append_batch(...)` is the write of a process's group commit
(app/eventstore/postgres/group.py): the commands waiting in a process are written by one call,
which is its own transaction. Under the `event_head` row lock (taken first, so that every check
reads what the previous batch committed) it checks each command on its own: its streams at
their expected versions, each stream it extends owned by its tenant, its Idempotency-Key not
yet stored. The commands that pass get positions head + 1 .. head + n in batch order (gapless,
in commit order, as `collabspace_append`), by one UPDATE of the head, one INSERT from `unnest`,
one INSERT of their keys (the body stamped with the command's last position) and one NOTIFY.
A command that fails is reported, not raised: the others commit without it.

Tenants. A batch spans tenants, so the function cannot compare them with one session setting
as `collabspace_append` does. Instead, per command:
- the tenant its events carry must be the tenant the command's session was bound to (its
  `app.tenant_id`, which the unit of work checked and passes as `p_callers`); a mismatch, or no
  tenant, refuses the whole call (insufficient_privilege);
- a stream that already has events must belong to that tenant (a failure of the command alone);
- and a session that is bound to a tenant (every request's session) may append only that
  tenant's events here too: from a request, the function refuses exactly what
  `collabspace_append` refuses. Only the group commit's own writer session, bound to no
  tenant, writes batches that span tenants.
The function sets no tenant (tests/contracts/test_row_security.py checks the catalog).
"""

from __future__ import annotations

from alembic import op

revision = "0008_group_commit"
down_revision = "0007_notifications_analytics"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
BATCH_ARGS = (
    "uuid[], uuid[], uuid[], text[], text[], int[], text[], timestamptz[],"
    " int[], text[], int[], int[],"
    " int[], int[], text[], text[], int2[], text[], text[], timestamptz[]"
)

# Arrays per command (c), per append (a: one stream of one command, in command order) and per
# event (e, in append order). plpgsql, so that its statements are planned once per session.
# Cost: per command a few operations on fixed-width arrays (O(1) each: no text array is ever
# subscripted, which would cost O(n) each, and the bookkeeping arrays hold no NULL); the SQL
# statements read the text arrays by `unnest`. Verdicts are codes: 0 passes, 1 a stale version
# (or a stream an earlier command of the batch took), 2 another tenant's stream, 3 a stored key.
BATCH_FUNCTION = """
CREATE FUNCTION collabspace_append_batch(
    p_tenants uuid[], p_callers uuid[],
    p_key_users uuid[], p_keys text[], p_key_hashes text[], p_key_status int[],
    p_key_bodies text[], p_key_at timestamptz[],
    p_append_commands int[], p_streams text[], p_expected int[], p_counts int[],
    p_event_appends int[], p_versions int[], p_projects text[], p_types text[],
    p_schemas int2[], p_data text[], p_metadata text[], p_recorded timestamptz[]
) RETURNS TABLE (command int, last_position bigint, failure text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    n_commands int := coalesce(cardinality(p_tenants), 0);
    n_appends int := coalesce(cardinality(p_streams), 0);
    bound uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
    head bigint;
    total bigint := 0;
    verdicts int[];      -- per append
    stream_nos int[];    -- per append: its stream's number in this batch
    key_verdicts int[];  -- per command
    key_nos int[];       -- per command: its key's number in this batch, 0 without a key
    firsts bigint[] := array_fill(0::bigint, ARRAY[n_appends]);
    lasts bigint[] := array_fill(0::bigint, ARRAY[n_commands]);
    failures int[] := array_fill(0, ARRAY[n_commands]);
    taken_streams boolean[] := array_fill(false, ARRAY[n_appends]);
    taken_keys boolean[] := array_fill(false, ARRAY[n_commands]);
    reason int;
    i int := 1;
    j int;
    c int;
BEGIN
    IF EXISTS (SELECT FROM unnest(p_tenants, p_callers) AS t(tenant, caller)
               WHERE t.tenant IS NULL OR t.tenant IS DISTINCT FROM t.caller
                  OR (bound IS NOT NULL AND t.tenant <> bound)) THEN
        RAISE EXCEPTION 'events are appended for the command''s own tenant only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The head's row lock first: it serialises batches until commit, and every read below
    -- then sees what the previous batch committed.
    SELECT h.position INTO head FROM event_head h WHERE h.id = 1 FOR UPDATE;
    -- A stale version first: a command that read under row security sees no event of another
    -- tenant's stream, so it fails as a conflict (409), as a single append always did.
    -- A command that appends to a stream again continues its own earlier append (`before`).
    SELECT array_agg(CASE
               WHEN coalesce(cur.version, 0) + a.before <> a.expected THEN 1
               WHEN cur.tenant_id <> p_tenants[a.cmd] THEN 2
               ELSE 0
           END ORDER BY a.i),
           array_agg(a.stream_no ORDER BY a.i)
      INTO verdicts, stream_nos
      FROM (SELECT u.cmd, u.stream_id, u.expected, u.i,
                   dense_rank() OVER (ORDER BY u.stream_id)::int AS stream_no,
                   coalesce(sum(u.n) OVER (PARTITION BY u.cmd, u.stream_id ORDER BY u.i
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                            0) AS before
              FROM unnest(p_append_commands, p_streams, p_expected, p_counts) WITH ORDINALITY
                   AS u(cmd, stream_id, expected, n, i)) a
      LEFT JOIN LATERAL (
          SELECT e.version, e.tenant_id FROM event e
           WHERE e.stream_id = a.stream_id ORDER BY e.version DESC LIMIT 1
      ) cur ON true;
    SELECT array_agg(CASE WHEN k.key IS NOT NULL AND EXISTS (
               SELECT FROM idempotency_key s WHERE s.tenant_id = k.tenant
                  AND s.user_id = k.user_id AND s.key = k.key) THEN 3 ELSE 0
           END ORDER BY k.c),
           array_agg(k.key_no ORDER BY k.c)
      INTO key_verdicts, key_nos
      FROM (SELECT u.*, CASE WHEN u.key IS NULL THEN 0 ELSE
                       dense_rank() OVER (ORDER BY u.tenant, u.user_id, u.key)::int END AS key_no
              FROM unnest(p_tenants, p_key_users, p_keys) WITH ORDINALITY
                   AS u(tenant, user_id, key, c)) k;
    -- In batch order: a command passes when its streams and key pass and no command before it
    -- in this batch took one of its streams or its key (that one committed first, as it would
    -- have one at a time).
    FOR c IN 1..n_commands LOOP
        reason := key_verdicts[c];
        IF reason = 0 AND key_nos[c] > 0 AND taken_keys[key_nos[c]] THEN
            reason := 3;
        END IF;
        j := i;
        WHILE j <= n_appends AND p_append_commands[j] = c LOOP
            IF reason = 0 THEN
                reason := verdicts[j];
                IF reason = 0 AND taken_streams[stream_nos[j]] THEN
                    reason := 1;
                END IF;
            END IF;
            j := j + 1;
        END LOOP;
        IF reason = 0 THEN
            FOR a IN i..j - 1 LOOP
                firsts[a] := head + total + 1;
                total := total + p_counts[a];
                taken_streams[stream_nos[a]] := true;
            END LOOP;
            lasts[c] := head + total;
            IF key_nos[c] > 0 THEN
                taken_keys[key_nos[c]] := true;
            END IF;
        ELSE
            failures[c] := reason;
        END IF;
        i := j;
    END LOOP;
    IF total > 0 THEN
        UPDATE event_head SET position = head + total WHERE id = 1;
        INSERT INTO event (position, stream_id, version, tenant_id, project_id, type,
                           schema_version, data, metadata, recorded_at)
        SELECT f.first + e.version - f.expected - 1, f.stream_id, e.version, f.tenant,
               e.project_id::uuid, e.type, e.schema_version, e.data::jsonb, e.metadata::jsonb,
               e.recorded_at
        FROM unnest(p_event_appends, p_versions, p_projects, p_types, p_schemas, p_data,
                    p_metadata, p_recorded)
             AS e(a, version, project_id, type, schema_version, data, metadata, recorded_at)
        JOIN (SELECT u.a, u.stream_id, u.expected, p_tenants[u.cmd] AS tenant,
                     firsts[u.a] AS first
                FROM unnest(p_streams, p_expected, p_append_commands) WITH ORDINALITY
                     AS u(stream_id, expected, cmd, a)) f ON f.a = e.a
        WHERE f.first > 0;
        INSERT INTO idempotency_key (tenant_id, user_id, key, request_hash, status, body,
                                     created_at)
        SELECT k.tenant, k.user_id, k.key, k.hash, k.status,
               jsonb_set(k.body::jsonb, '{position}', to_jsonb(lasts[k.c])), k.at
        FROM unnest(p_tenants, p_key_users, p_keys, p_key_hashes, p_key_status, p_key_bodies,
                    p_key_at) WITH ORDINALITY AS k(tenant, user_id, key, hash, status, body, at, c)
        WHERE k.key IS NOT NULL AND lasts[k.c] > 0;
        PERFORM pg_notify('collabspace_events', (head + total)::text);
    END IF;
    RETURN QUERY
        SELECT x.c, nullif(lasts[x.c], 0),
               CASE failures[x.c] WHEN 1 THEN 'version' WHEN 2 THEN 'tenant' WHEN 3 THEN 'key' END
        FROM generate_series(1, n_commands) AS x(c);
END
$$
"""


def _for_app_role(statements: str) -> None:
    # The role is cluster-wide and may be missing (migration 0004 creates it when it can).
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                {statements}
            END IF;
        END $$;
        """
    )


def upgrade() -> None:
    op.execute(BATCH_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION collabspace_append_batch({BATCH_ARGS}) FROM PUBLIC")
    _for_app_role(
        f"GRANT EXECUTE ON FUNCTION collabspace_append_batch({BATCH_ARGS}) TO {APP_ROLE};"
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION collabspace_append_batch({BATCH_ARGS})")
