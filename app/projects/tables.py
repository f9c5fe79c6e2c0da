"""Read-side tables of the projects context (projection "projects": list and dashboard)."""

from __future__ import annotations

import sqlalchemy as sa

from app.kernel.db import Json, metadata
from app.kernel.projections import lookup_table

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
    sa.Column("members", Json, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_position", sa.BigInteger, nullable=False),
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
)

project_lookup = lookup_table("project_lookup")
