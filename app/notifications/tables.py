"""Read-side tables of the notifications context (projection "notifications")."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from app.kernel.db import metadata
from app.readside.projector import lookup_table

# One row per (recipient, event). The position of the event is the notification's id and
# cursor. The text is written once, with the names of the moment: a notification is a letter,
# not a live view.
notification = sa.Table(
    "notification",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.String(36), nullable=True),
    sa.Column("project_id", sa.String(36), nullable=True),
    sa.Column("task_id", sa.String(36), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    # Set by the user's own NotificationRead / NotificationsReadUpTo events (their time).
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(None, "tenant_id", "user_id", "position"),
    sa.Index(
        "ix_notification_unread",
        "tenant_id",
        "user_id",
        postgresql_where=sa.text("read_at IS NULL"),
    ),
)

# What the projection must know to address notifications: each task's assignee and title...
notification_task = sa.Table(
    "notification_task",
    metadata,
    sa.Column("task_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("assignee_id", sa.String(36), nullable=True),
)

# ...and each project's name and members (a JSON list: one row read per status change).
notification_project = sa.Table(
    "notification_project",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("members", JSONB, nullable=False),
)

notification_lookup = lookup_table("notification_lookup")
