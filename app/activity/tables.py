"""Read-side tables of the activity context (projection "activity")."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from app.kernel.db import metadata
from app.readside.projector import lookup_table

# One entry per event worth telling. Names are copies, kept current by rename events; the text
# is rendered at read time from them, so a rename never leaves a stale sentence behind.
activity_entry = sa.Table(
    "activity_entry",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.String(36), nullable=True),
    sa.Column("actor_name", sa.String(200), nullable=False),
    sa.Column("project_name", sa.String(200), nullable=True),
    sa.Column("task_id", sa.String(36), nullable=True),
    sa.Column("task_title", sa.String(300), nullable=True),
    # The user acted upon (added, assigned, renamed...), not the actor.
    sa.Column("user_id", sa.String(36), nullable=True),
    sa.Column("user_name", sa.String(200), nullable=True),
    # Historical values (old and new status, amounts, old name): facts, never rewritten.
    sa.Column("detail", JSONB, nullable=False),
    sa.Index(None, "tenant_id", "position"),
    sa.Index(None, "tenant_id", "project_id", "position"),
    sa.Index(None, "tenant_id", "actor_id"),
    sa.Index(None, "tenant_id", "user_id"),
    sa.Index(None, "tenant_id", "task_id"),
)

activity_lookup = lookup_table("activity_lookup")
