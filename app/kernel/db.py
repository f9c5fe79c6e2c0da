"""Engine construction and the kernel's tables: the event store and the idempotency record.

Context-specific tables live in each context's `tables.py` and share this MetaData, so that
Alembic sees one schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

event = sa.Table(
    "event",
    metadata,
    # Allocated under the append lock as max+1: gapless, and commit order equals position order.
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream_id", sa.String(120), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("project_id", sa.Uuid, nullable=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("schema_version", sa.SmallInteger, nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("stream_id", "version"),
    sa.Index(None, "tenant_id", "position"),
    sa.Index(None, "project_id", "position"),
)

# One row (id 1): the last allocated position. PostgreSQL appends update it under its row lock.
event_head = sa.Table(
    "event_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="one_row"),
)

idempotency_key = sa.Table(
    "idempotency_key",
    metadata,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("body", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An AsyncEngine for PostgreSQL (asyncpg)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per request; a dropped connection is detected on
        # use, invalidates the pool (503 for that request) and the next checkout reconnects.
        pool_pre_ping=False,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )


# How far the relay has published; one row per relay name.
relay_checkpoint = sa.Table(
    "relay_checkpoint",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# How far each projection has applied; written in the same transaction as its read rows.
projection_checkpoint = sa.Table(
    "projection_checkpoint",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


_SET_TENANT = sa.select(sa.func.set_config("app.tenant_id", sa.bindparam("tenant"), True))


@asynccontextmanager
async def tenant_connection(engine: AsyncEngine, tenant_id: str) -> AsyncIterator[AsyncConnection]:
    """A read connection whose transaction is scoped to one tenant by row-level security.

    `app.tenant_id` is set for the transaction (set_config(..., true)): with the app role, the
    policies then show only that tenant's rows (docs/security.md).
    """
    for attempt in range(2):
        connection = await engine.connect()
        try:
            await scope_to_tenant(connection, tenant_id)
            break
        except DBAPIError as exc:
            await connection.close()
            # A pooled session that died while idle (a database restart, pg_terminate_backend)
            # fails here, on the first statement, with nothing done yet: SQLAlchemy has then
            # invalidated the pool, and one fresh connection is worth a try before a 503.
            if attempt or not exc.connection_invalidated:
                raise
    try:
        yield connection
    finally:
        await connection.close()


async def scope_to_tenant(connection: AsyncConnection, tenant_id: str) -> None:
    """Set the tenant for row-level security on this connection's current transaction."""
    await connection.execute(_SET_TENANT, {"tenant": tenant_id})


async def tenant_head(connection: AsyncConnection, tenant_id: str) -> int:
    """The position of the tenant's last committed event (0: none), by the (tenant, position)
    index: what a read of that tenant's models waits for to include every write before it."""
    found = await connection.scalar(
        sa.select(sa.func.max(event.c.position)).where(event.c.tenant_id == tenant_id)
    )
    return int(found or 0)


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction in which the checkpoint and the rows come from one snapshot."""
    async with engine.connect() as connection:
        connection = await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            yield connection
