"""Task fields people expect (issue 16 s.7): created_at, due date, priority, comments.

Revision ID: 0010_task_fields
Revises: 0009_search_reports
Create Date: 2026-12-07

`task_card` gains `created_at` (filled from each task's first event, so the board projection
continues correctly from where it is), `due_at`, `priority` and `comment_count`; its assignee
index becomes (tenant, assignee, due_at, created_position) for "my tasks". `project_task`
gains `due_at` (the dashboard's overdue count). `task_comment` holds the tasks' comments,
under row-level security like every table with a tenant_id. Existing tasks have no due date,
priority normal and no comments, which is what replaying their events gives (events of these
kinds only exist from this revision on; after a downgrade and upgrade again, run
`collabspace projections rebuild board` and `... projects` to get them back).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_task_fields"
down_revision = "0009_search_reports"
branch_labels = None
depends_on = None

APP_ROLE = "collabspace_app"
TENANT = "current_setting('app.tenant_id', true)"
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("task_card", sa.Column("created_at", Timestamp, nullable=True))
    op.execute(
        """
        UPDATE task_card c SET created_at = e.recorded_at
          FROM event e
         WHERE e.stream_id = 'task-' || c.task_id AND e.version = 1
        """
    )
    op.execute("UPDATE task_card SET created_at = updated_at WHERE created_at IS NULL")
    op.alter_column("task_card", "created_at", nullable=False)
    op.add_column("task_card", sa.Column("due_at", Timestamp, nullable=True))
    # Defaults only to fill the existing rows; the projection always writes both.
    op.add_column(
        "task_card",
        sa.Column("priority", sa.String(10), nullable=False, server_default="normal"),
    )
    op.add_column(
        "task_card", sa.Column("comment_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.alter_column("task_card", "priority", server_default=None)
    op.alter_column("task_card", "comment_count", server_default=None)
    op.drop_index("ix_task_card_tenant_id_assignee_id", table_name="task_card")
    op.create_index(
        "ix_task_card_tenant_id_assignee_id_due_at_created_position",
        "task_card",
        ["tenant_id", "assignee_id", "due_at", "created_position"],
    )
    op.add_column("project_task", sa.Column("due_at", Timestamp, nullable=True))
    op.create_index("ix_project_task_project_id_due_at", "project_task", ["project_id", "due_at"])
    op.create_table(
        "task_comment",
        sa.Column("comment_id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("author_id", sa.String(36), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("edited_at", Timestamp, nullable=True),
        sa.Column("created_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("comment_id", name="pk_task_comment"),
    )
    op.create_index(
        "ix_task_comment_tenant_id_task_id_created_position",
        "task_comment",
        ["tenant_id", "task_id", "created_position"],
    )
    op.create_index(
        "ix_task_comment_tenant_id_author_id", "task_comment", ["tenant_id", "author_id"]
    )
    op.execute("ALTER TABLE task_comment ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON task_comment USING (tenant_id = {TENANT})"
        f" WITH CHECK (tenant_id = {TENANT})"
    )
    # The role is cluster-wide and may be missing (migration 0004 creates it when it can).
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                GRANT SELECT, INSERT, UPDATE, DELETE ON task_comment TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def downgrade() -> None:
    op.drop_table("task_comment")
    op.drop_index("ix_project_task_project_id_due_at", table_name="project_task")
    op.drop_column("project_task", "due_at")
    op.drop_index(
        "ix_task_card_tenant_id_assignee_id_due_at_created_position", table_name="task_card"
    )
    op.create_index("ix_task_card_tenant_id_assignee_id", "task_card", ["tenant_id", "assignee_id"])
    for column in ("comment_count", "priority", "due_at", "created_at"):
        op.drop_column("task_card", column)
