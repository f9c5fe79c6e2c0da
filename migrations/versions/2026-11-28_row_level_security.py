"""Row-level security: a second wall between tenants, for the app's non-superuser role.

Revision ID: 0004_row_level_security
Revises: 0003_event_head
Create Date: 2026-11-28

Every table that carries a tenant_id gets a policy that shows and accepts only the rows of the
tenant named by the transaction's `app.tenant_id` setting (none when it is unset or empty). The
API's request paths connect as `collabspace_app` (created here when missing, if the migrating
role may create roles), which is subject to the policies; the migrating role owns the tables and
is not (RLS is enabled, not forced), so the relay, projections and rebuild keep reading across
tenants with the owner's connection. Log-in by e-mail, the one cross-tenant lookup of a request,
goes through `collabspace_user_by_email`, a SECURITY DEFINER function. See docs/security.md.
"""

from __future__ import annotations

from alembic import op

revision = "0004_row_level_security"
down_revision = "0003_event_head"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
UUID_TABLES = ("event", "tenant_user", "idempotency_key")
TEXT_TABLES = (
    "tenant_user_card",
    "project_summary",
    "project_member",
    "project_task",
    "project_lookup",
    "task_card",
    "task_lookup",
    "activity_entry",
    "activity_lookup",
)
TENANT = "current_setting('app.tenant_id', true)"


def upgrade() -> None:
    # Roles are cluster-wide: create it once, tolerating a concurrent creator or a migrating
    # role without CREATEROLE (then the operator creates it and re-runs the grants below).
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
            RAISE NOTICE 'role {APP_ROLE} not created here';
        END $$;
        """
    )
    for table in UUID_TABLES:
        _protect(table, f"tenant_id = nullif({TENANT}, '')::uuid")
    for table in TEXT_TABLES:
        _protect(table, f"tenant_id = {TENANT}")
    op.execute(
        """
        CREATE FUNCTION collabspace_user_by_email(p_email text) RETURNS SETOF tenant_user
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT * FROM tenant_user WHERE email = p_email $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION collabspace_user_by_email(text) FROM PUBLIC")
    # The project dashboard as one statement on an autocommit connection: the function sets the
    # tenant for its own (implicit, one-statement) transaction, then reads as the caller, under
    # the policies (SECURITY INVOKER). One round trip, whatever tenant the connection served.
    op.execute(
        """
        CREATE FUNCTION collabspace_dashboard(
            p_tenant text, p_project text, p_reads text[], p_limit int
        ) RETURNS text
        LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp
        AS $$
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant, true);
            -- json, not jsonb: built as text, it is cheaper and the client parses it anyway.
            RETURN (
                SELECT json_build_object(
                    'summary', row_to_json(s),
                    'as_of_position',
                    (SELECT min(position) FROM projection_checkpoint WHERE name = ANY(p_reads)),
                    'recent_activity',
                    (SELECT coalesce(json_agg(a ORDER BY a.position DESC), '[]')
                     FROM (SELECT * FROM activity_entry
                           WHERE tenant_id = p_tenant AND project_id = p_project
                           ORDER BY position DESC LIMIT p_limit) a)
                )::text
                FROM project_summary s
                WHERE s.tenant_id = p_tenant AND s.project_id = p_project
            );
        END
        $$
        """
    )
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
                    TO {APP_ROLE};
                REVOKE ALL ON alembic_version FROM {APP_ROLE};
                GRANT EXECUTE ON FUNCTION collabspace_user_by_email(text) TO {APP_ROLE};
                GRANT EXECUTE ON FUNCTION collabspace_dashboard(text, text, text[], int)
                    TO {APP_ROLE};
                -- Tables later migrations create (as this role) are the app's too; a table
                -- with a tenant_id still needs its policy in that migration.
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def _protect(table: str, condition: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})"
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS collabspace_user_by_email(text)")
    op.execute("DROP FUNCTION IF EXISTS collabspace_dashboard(text, text, text[], int)")
    for table in (*UUID_TABLES, *TEXT_TABLES):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE};
                ALTER DEFAULT PRIVILEGES IN SCHEMA public
                    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE};
            END IF;
        END $$;
        """
    )
