"""Search: the full-text read model (projection "search"); reports need no table of their own.

Revision ID: 0009_search_reports
Revises: 0008_group_commit
Create Date: 2026-12-07

`search_entry` holds one row per project and per open task with a stored, generated `tsvector`
(title weight A, description weight B, configuration 'simple') under a GIN index;
`search_member` is the projection's own copy of who is in which project, and `search_lookup`
its copy of project names. All three carry a tenant and get the tenant policy of migration 0004;
the app role may only read them (the projection writes as the owner).

`collabspace_search(...)` answers a search. Under row-level security PostgreSQL may not use the
GIN index for `tsv @@ query` (the match operator is not LEAKPROOF, so it may not run before the
policy's filter) and falls back to reading every row of the table: 15 ms at 30,000 entries,
linear beyond. The function runs as the owner, who is not subject to the policy, and applies the
policy's condition itself, from the transaction's `app.tenant_id` (it never sets it): no tenant
set, no rows; another tenant's rows are never read. It is SECURITY DEFINER with a fixed
search_path, EXECUTE for the app role only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0009_search_reports"
down_revision = "0008_group_commit"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
TABLES = ("search_entry", "search_member", "search_lookup")
TENANT = "current_setting('app.tenant_id', true)"
# As app/search/tables.py DOCUMENT says (a migration never imports the app's current code).
DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, title), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, body), 'B')"
)


SEARCH_ARGS = "text, text, boolean, integer, real, text, text"
# The tenant comes from the transaction (as the policy's does); the caller's words arrive as a
# tsquery text the app built (app/search/query.py). Members: only the projects they are in.
# Keyset paging: below the last rank, or equal and after the last (kind, id).
SEARCH_FUNCTION = """
CREATE FUNCTION collabspace_search(
    p_query text, p_user text, p_admin boolean, p_limit integer,
    p_after_rank real, p_after_kind text, p_after_ref text
) RETURNS TABLE (hit_kind text, hit_ref text, hit_project text, hit_project_name text,
                 hit_title text, hit_status text, hit_rank real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    tenant text := nullif(current_setting('app.tenant_id', true), '');
    q tsquery := to_tsquery('simple', p_query);
BEGIN
    IF tenant IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT e.kind::text, e.ref_id::text, e.project_id::text, e.project_name::text,
           e.title::text, e.status::text, ts_rank(e.tsv, q)
      FROM search_entry AS e
     WHERE e.tsv @@ q AND e.tenant_id = tenant
       AND (p_admin OR e.project_id IN (SELECT m.project_id FROM search_member AS m
                                         WHERE m.tenant_id = tenant AND m.user_id = p_user))
       AND (p_after_rank IS NULL
            OR ts_rank(e.tsv, q) < p_after_rank
            OR (ts_rank(e.tsv, q) = p_after_rank
                AND (e.kind::text, e.ref_id::text) > (p_after_kind, p_after_ref)))
     ORDER BY 7 DESC, 1, 2
     LIMIT p_limit;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "search_entry",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("project_name", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tsv", TSVECTOR(), sa.Computed(DOCUMENT, persisted=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_search_entry"),
    )
    op.create_index("ix_search_entry_tsv", "search_entry", ["tsv"], postgresql_using="gin")
    op.create_index(
        "ix_search_entry_tenant_id_project_id", "search_entry", ["tenant_id", "project_id"]
    )
    op.create_table(
        "search_member",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_search_member"),
    )
    op.create_index("ix_search_member_tenant_id_user_id", "search_member", ["tenant_id", "user_id"])
    op.create_table(
        "search_lookup",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_search_lookup"),
    )
    for table in TABLES:
        condition = f"tenant_id = {TENANT}"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table}"
            f" USING ({condition}) WITH CHECK ({condition})"
        )
    op.execute(SEARCH_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION collabspace_search({SEARCH_ARGS}) FROM PUBLIC")
    tables = ", ".join(TABLES)
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                REVOKE ALL ON {tables} FROM {APP_ROLE};
                GRANT SELECT ON {tables} TO {APP_ROLE};
                GRANT EXECUTE ON FUNCTION collabspace_search({SEARCH_ARGS}) TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION collabspace_search({SEARCH_ARGS})")
    for table in reversed(TABLES):
        op.drop_table(table)
