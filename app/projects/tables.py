"""Read-side tables of the projects context (projection "projects": list and dashboard)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from app.kernel.db import metadata
from app.readside.projector import lookup_table

# One row per project: everything the list and the dashboard show, counts included.
project_summary = sa.Table(
    "project_summary",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("created_by_name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The position of ProjectCreated: "newest first" order and the list's cursor.
    sa.Column("created_position", sa.BigInteger, nullable=False),
    sa.Column("budget_cents", sa.BigInteger, nullable=False),
    sa.Column("spend_cents", sa.BigInteger, nullable=False),
    sa.Column("task_total", sa.Integer, nullable=False),
    sa.Column("task_done", sa.Integer, nullable=False),
    # [{"user_id", "name"}] in the order they joined.
    sa.Column("members", JSONB, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_position", sa.BigInteger, nullable=False),
    # The newest activity entries of the project (at most RECENT), newest first, with the ids
    # and copied names they mention, so that renames can reach them (migration 0005).
    sa.Column("recent", JSONB, nullable=False),
    # The dashboard as the API answers it, ready JSON text without as_of_position: the
    # dashboard read is one primary-key lookup. NULL until the projection first writes the row
    # after migration 0005 (the dashboard is then composed per request).
    sa.Column("dashboard", sa.Text, nullable=True),
    sa.Index(None, "tenant_id", "created_position"),
    sa.Index(None, "tenant_id", "status", "created_position"),
)

# Who is in which project: access checks, realtime tickets, and renames of members.
project_member = sa.Table(
    "project_member",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("user_name", sa.String(200), nullable=False),
    sa.Index(None, "tenant_id", "user_id"),
)

# Each task's status as this projection saw it, so that moves and archives keep the counts.
project_task = sa.Table(
    "project_task",
    metadata,
    sa.Column("task_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # The task's current title, for the dashboard's activity sentences (migration 0005).
    sa.Column("title", sa.String(300), nullable=False),
    # When it is due (migration 0010): the dashboard counts the overdue ones as it is read,
    # since a task becomes overdue with the clock, not with an event.
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(None, "project_id", "due_at"),
)

project_lookup = lookup_table("project_lookup")
