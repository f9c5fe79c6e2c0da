"""Read models of the notifications inbox and of project analytics (issue 16, sections 3, 5).

Revision ID: 0007_notifications_analytics
Revises: 0006_app_role_least_privilege
Create Date: 2026-12-07

Seven derived tables, filled by the projections "notifications" and "analytics" from position
zero when the worker first runs them (or by `collabspace projections rebuild`). Each carries its
tenant and gets the tenant-isolation policy of migration 0004. The app role only reads them: the
projections write as the owner, and marking a notification read is a command (an event), not
an UPDATE by a request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_notifications_analytics"
down_revision = "0006_app_role_least_privilege"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
TENANT = "current_setting('app.tenant_id', true)"
TABLES = (
    "notification",
    "notification_task",
    "notification_project",
    "notification_lookup",
    "analytics_day",
    "analytics_task",
    "analytics_project",
)


def _id(name: str, **kw: bool) -> sa.Column[str]:
    return sa.Column(name, sa.String(36), **kw)


def upgrade() -> None:
    op.create_table(
        "notification",
        _id("user_id", primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        _id("tenant_id", nullable=False),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _id("actor_id", nullable=True),
        _id("project_id", nullable=True),
        _id("task_id", nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_notification_tenant_id_user_id_position",
        "notification",
        ["tenant_id", "user_id", "position"],
    )
    op.create_index(
        "ix_notification_unread",
        "notification",
        ["tenant_id", "user_id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "notification_task",
        _id("task_id", primary_key=True),
        _id("tenant_id", nullable=False),
        _id("project_id", nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        _id("assignee_id", nullable=True),
    )
    op.create_table(
        "notification_project",
        _id("project_id", primary_key=True),
        _id("tenant_id", nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("members", postgresql.JSONB, nullable=False),
    )
    op.create_table(
        "notification_lookup",
        sa.Column("kind", sa.String(12), primary_key=True),
        _id("ref_id", primary_key=True),
        _id("tenant_id", nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
    )
    op.create_table(
        "analytics_day",
        _id("project_id", primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        _id("tenant_id", nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("open_end", sa.Integer, nullable=False),
        sa.Column("spend_cents", sa.BigInteger, nullable=False),
        sa.Column("cycle_seconds", postgresql.JSONB, nullable=False),
    )
    op.create_table(
        "analytics_task",
        _id("task_id", primary_key=True),
        _id("tenant_id", nullable=False),
        _id("project_id", nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "analytics_project",
        _id("project_id", primary_key=True),
        _id("tenant_id", nullable=False),
        sa.Column("open_now", sa.Integer, nullable=False),
    )
    grants = []
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table}"
            f" USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
        )
        # Migration 0004's default privileges would let the app role write these: it reads.
        grants.append(f"REVOKE ALL ON {table} FROM {APP_ROLE};")
        grants.append(f"GRANT SELECT ON {table} TO {APP_ROLE};")
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                {" ".join(grants)}
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DELETE FROM projection_checkpoint WHERE name IN ('notifications', 'analytics')")
    op.execute("DELETE FROM relay_checkpoint WHERE name = 'notifications'")
