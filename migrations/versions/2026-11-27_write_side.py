"""Write side: the event store, idempotency keys, checkpoints and the user directory.

Revision ID: 0001_write_side
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_write_side"
down_revision = None
branch_labels = None
depends_on = None

Json = postgresql.JSONB()


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("position", sa.BigInteger, autoincrement=False, nullable=False),
        sa.Column("stream_id", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("project_id", sa.Uuid, nullable=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_event"),
        sa.UniqueConstraint("stream_id", "version", name="uq_event_stream_id_version"),
    )
    op.create_index("ix_event_tenant_id_position", "event", ["tenant_id", "position"])
    op.create_index("ix_event_project_id_position", "event", ["project_id", "position"])
    op.create_table(
        "idempotency_key",
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("body", Json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "key", name="pk_idempotency_key"),
    )
    for name in ("relay_checkpoint", "projection_checkpoint"):
        op.create_table(
            name,
            sa.Column("name", sa.String(60), nullable=False),
            sa.Column("position", sa.BigInteger, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("name", name=f"pk_{name}"),
        )
    op.create_table(
        "tenant_user",
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_tenant_user"),
        sa.UniqueConstraint("email", name="uq_tenant_user_email"),
    )
    op.create_index("ix_tenant_user_tenant_id", "tenant_user", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("tenant_user")
    op.drop_table("projection_checkpoint")
    op.drop_table("relay_checkpoint")
    op.drop_table("idempotency_key")
    op.drop_table("event")
