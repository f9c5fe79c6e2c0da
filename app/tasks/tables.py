"""Read-side tables of the tasks context (projection "board")."""

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
    sa.Index(None, "tenant_id", "project_id", "created_position"),
    sa.Index(None, "tenant_id", "assignee_id"),
)

task_lookup = lookup_table("task_lookup")
