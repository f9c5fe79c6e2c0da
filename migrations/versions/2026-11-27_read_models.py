"""Read models: the user directory, project list/dashboard, task board and activity feed.

Revision ID: 0002_read_models
Revises: 0001_write_side
Create Date: 2026-11-27

All of these tables are derived: `collabspace projections rebuild` can refill them from the
event store at any time, and a downgrade loses nothing that the store does not hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_read_models"
down_revision = "0001_write_side"
branch_labels = None
depends_on = None

Json = postgresql.JSONB()

TABLES = (
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


def upgrade() -> None:
    op.create_table(
        "tenant_user_card",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_tenant_user_card"),
    )
    op.create_index("ix_tenant_user_card_tenant_id_name", "tenant_user_card", ["tenant_id", "name"])
    op.create_table(
        "project_summary",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_by_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_position", sa.BigInteger(), nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("task_total", sa.Integer(), nullable=False),
        sa.Column("task_done", sa.Integer(), nullable=False),
        sa.Column("members", Json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_project_summary"),
    )
    op.create_index(
        "ix_project_summary_tenant_id_created_position",
        "project_summary",
        ["tenant_id", "created_position"],
    )
    op.create_index(
        "ix_project_summary_tenant_id_status_created_position",
        "project_summary",
        ["tenant_id", "status", "created_position"],
    )
    op.create_table(
        "project_member",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "user_id", name="pk_project_member"),
    )
    op.create_index(
        "ix_project_member_tenant_id_user_id", "project_member", ["tenant_id", "user_id"]
    )
    op.create_table(
        "project_task",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_project_task"),
    )
    op.create_table(
        "project_lookup",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_project_lookup"),
    )
    op.create_table(
        "task_card",
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("assignee_id", sa.String(36), nullable=True),
        sa.Column("assignee_name", sa.String(200), nullable=True),
        sa.Column("created_position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_card"),
    )
    op.create_index("ix_task_card_tenant_id_assignee_id", "task_card", ["tenant_id", "assignee_id"])
    op.create_index(
        "ix_task_card_tenant_id_project_id_created_position",
        "task_card",
        ["tenant_id", "project_id", "created_position"],
    )
    op.create_table(
        "task_lookup",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_task_lookup"),
    )
    op.create_table(
        "activity_entry",
        sa.Column("position", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(36), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("project_name", sa.String(200), nullable=True),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("task_title", sa.String(300), nullable=True),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("user_name", sa.String(200), nullable=True),
        sa.Column("detail", Json, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_activity_entry"),
    )
    op.create_index(
        "ix_activity_entry_tenant_id_actor_id", "activity_entry", ["tenant_id", "actor_id"]
    )
    op.create_index(
        "ix_activity_entry_tenant_id_position", "activity_entry", ["tenant_id", "position"]
    )
    op.create_index(
        "ix_activity_entry_tenant_id_project_id_position",
        "activity_entry",
        ["tenant_id", "project_id", "position"],
    )
    op.create_index(
        "ix_activity_entry_tenant_id_task_id", "activity_entry", ["tenant_id", "task_id"]
    )
    op.create_index(
        "ix_activity_entry_tenant_id_user_id", "activity_entry", ["tenant_id", "user_id"]
    )
    op.create_table(
        "activity_lookup",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("ref_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", name="pk_activity_lookup"),
    )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
    # Their checkpoints would otherwise claim rows that no longer exist.
    op.execute(sa.text("DELETE FROM projection_checkpoint"))
