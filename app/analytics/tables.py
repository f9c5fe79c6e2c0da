"""Read-side tables of the analytics context (projection "analytics"). Days are UTC dates."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from app.kernel.db import metadata

# One row per project and UTC day on which something counted happened; the read fills the
# quiet days in between (open carries forward, the rest is zero).
analytics_day = sa.Table(
    "analytics_day",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("completed", sa.Integer, nullable=False),
    # Tasks neither done nor archived after the day's last event (the burndown line).
    sa.Column("open_end", sa.Integer, nullable=False),
    sa.Column("spend_cents", sa.BigInteger, nullable=False),
    # Seconds from creation (todo) to done, one per completion that day: the median is taken
    # at read time, over any range of days.
    sa.Column("cycle_seconds", JSONB, nullable=False),
)

# The projection's own state: each live task's status and creation time...
analytics_task = sa.Table(
    "analytics_task",
    metadata,
    sa.Column("task_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("project_id", sa.String(36), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# ...and each project's running count of open tasks, which a new day row starts from.
analytics_project = sa.Table(
    "analytics_project",
    metadata,
    sa.Column("project_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("open_now", sa.Integer, nullable=False),
)
