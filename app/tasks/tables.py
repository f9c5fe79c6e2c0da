"""Read-side tables of the tasks context (projection "board": cards and comments)."""

from __future__ import annotations

import sqlalchemy as sa

from app.kernel.db import metadata
from app.readside.projector import lookup_table

# One card per open task; archived tasks leave the board.
task_card = sa.Table(
    "task_card",
    metadata,
    sa.Column("task_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("assignee_id", sa.String(36), nullable=True),
    sa.Column("assignee_name", sa.String(200), nullable=True),
    sa.Column("created_position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Issue 16 s.7 (migration 0010): when it was created, when it is due, how urgent it is,
    # how many comments it has. Overdue is not stored: it changes with the clock, not events.
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("comment_count", sa.Integer, nullable=False),
    sa.Index(None, "tenant_id", "project_id", "created_position"),
    # "My tasks": by assignee, soonest due first (NULLs last, as PostgreSQL sorts ascending).
    sa.Index(None, "tenant_id", "assignee_id", "due_at", "created_position"),
)

# The comments of tasks, oldest first; a deleted comment's row goes.
task_comment = sa.Table(
    "task_comment",
    metadata,
    sa.Column("comment_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("author_id", sa.String(36), nullable=False),
    sa.Column("author_name", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_position", sa.BigInteger, nullable=False),
    sa.Index(None, "tenant_id", "task_id", "created_position"),
    sa.Index(None, "tenant_id", "author_id"),
)

task_lookup = lookup_table("task_lookup")
