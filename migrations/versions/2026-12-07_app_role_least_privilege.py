"""Least privilege for the app role: appends through one function, no writes to the spine.

Revision ID: 0006_app_role_least_privilege
Revises: 0005_dashboard_document
Create Date: 2026-12-07

Before this revision `collabspace_app` (the role requests run as) could write `event_head`,
`relay_checkpoint` and `projection_checkpoint`, insert events at any position, and execute
`collabspace_dashboard(p_tenant, ...)` and `collabspace_dashboard_document(p_tenant, ...)`,
which set `app.tenant_id` themselves: called with another tenant's id they answered that
tenant's rows and left the transaction scoped to it (issue 14, item 5).

Now:
- events are appended only by `collabspace_append(...)`, a SECURITY DEFINER function that
  refuses a tenant other than the transaction's `app.tenant_id`, allocates positions from
  `event_head` under its row lock and inserts the batch: positions stay gapless and in commit
  order whoever calls it, and the app role has no INSERT, UPDATE or DELETE on `event`;
- the app role may read `projection_checkpoint` (read-your-writes, `as_of_position`) and
  nothing else of `event_head`, `relay_checkpoint` or the checkpoints;
- no function the app role may execute sets the tenant: both dashboard functions lose
  EXECUTE for PUBLIC and the app role (the owner keeps them, for the dashboard benchmark's
  before-figures).
tests/contracts/test_row_security.py checks each of these against the catalog.
"""

from __future__ import annotations

from alembic import op

revision = "0006_app_role_least_privilege"
down_revision = "0005_dashboard_document"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
APPEND_ARGS = "uuid, text[], int[], text[], text[], int2[], text[], text[], timestamptz[]"
TENANT_SETTERS = (
    "collabspace_dashboard(text, text, text[], int)",
    "collabspace_dashboard_document(text, text, text, boolean)",
)

# One statement's worth of events for one tenant. plpgsql, so that its two statements are
# planned once per session, not per call as a SQL function's would be.
APPEND_FUNCTION = """
CREATE FUNCTION collabspace_append(
    p_tenant uuid, p_streams text[], p_versions int[], p_projects text[], p_types text[],
    p_schemas int2[], p_data text[], p_metadata text[], p_recorded timestamptz[]
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    n int := cardinality(p_streams);
    head bigint;
BEGIN
    IF p_tenant IS DISTINCT FROM nullif(current_setting('app.tenant_id', true), '')::uuid THEN
        RAISE EXCEPTION 'events are appended for the transaction''s own tenant only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The row lock serialises appends until commit; the update re-reads the committed head.
    UPDATE event_head SET position = position + n WHERE id = 1 RETURNING position - n INTO head;
    INSERT INTO event (position, stream_id, version, tenant_id, project_id, type,
                       schema_version, data, metadata, recorded_at)
    SELECT head + e.n, e.stream_id, e.version, p_tenant, e.project_id::uuid, e.type,
           e.schema_version, e.data::jsonb, e.metadata::jsonb, e.recorded_at
    FROM unnest(p_streams, p_versions, p_projects, p_types, p_schemas, p_data, p_metadata,
                p_recorded)
        WITH ORDINALITY AS e(stream_id, version, project_id, type, schema_version, data,
                             metadata, recorded_at, n);
    RETURN head + n;
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
    op.execute(APPEND_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION collabspace_append({APPEND_ARGS}) FROM PUBLIC")
    for function in TENANT_SETTERS:
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    revoke_setters = " ".join(
        f"REVOKE ALL ON FUNCTION {function} FROM {APP_ROLE};" for function in TENANT_SETTERS
    )
    _for_app_role(
        f"""
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON event FROM {APP_ROLE};
        REVOKE ALL ON event_head, relay_checkpoint FROM {APP_ROLE};
        REVOKE ALL ON projection_checkpoint FROM {APP_ROLE};
        GRANT SELECT ON projection_checkpoint TO {APP_ROLE};
        GRANT EXECUTE ON FUNCTION collabspace_append({APPEND_ARGS}) TO {APP_ROLE};
        {revoke_setters}
        """
    )


def downgrade() -> None:
    grant_setters = " ".join(
        f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE};" for function in TENANT_SETTERS
    )
    _for_app_role(
        f"""
        GRANT SELECT, INSERT, UPDATE, DELETE ON event, event_head, relay_checkpoint,
            projection_checkpoint TO {APP_ROLE};
        {grant_setters}
        """
    )
    op.execute(f"DROP FUNCTION collabspace_append({APPEND_ARGS})")
