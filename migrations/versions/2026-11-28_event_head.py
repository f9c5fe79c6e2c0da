"""The event_head counter: appends allocate positions by updating its one row.

Revision ID: 0003_event_head
Revises: 0002_read_models
Create Date: 2026-11-28

The append statement runs `UPDATE event_head SET position = position + n`: the row lock
serialises appends until COMMIT and the update re-reads the committed head after the wait, so
lock, allocation, insert and NOTIFY are one round trip.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_event_head"
down_revision = "0002_read_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_head",
        sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="one_row"),
    )
    op.execute(
        "INSERT INTO event_head (id, position) SELECT 1, coalesce(max(position), 0) FROM event"
    )


def downgrade() -> None:
    op.drop_table("event_head")
