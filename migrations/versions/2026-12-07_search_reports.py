"""Search: the full-text read model (projection "search"); reports need no table of their own.

Revision ID: 0007_search_reports
Revises: 0006_app_role_least_privilege
Create Date: 2026-12-07

`search_entry` holds one row per project and per open task with a stored, generated `tsvector`
(title weight A, description weight B, configuration 'simple') under a GIN index;
`search_member` is the projection's own copy of who is in which project, and `search_lookup`
its copy of project names. All three carry a tenant and get the tenant policy of migration 0004;
the app role may only read them (the projection writes as the owner).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision = "0007_search_reports"
down_revision = "0006_app_role_least_privilege"
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
    tables = ", ".join(TABLES)
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                REVOKE ALL ON {tables} FROM {APP_ROLE};
                GRANT SELECT ON {tables} TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
