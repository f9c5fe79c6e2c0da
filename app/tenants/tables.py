"""The user directory table and its SQL adapter (the Directory port)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa

from app.eventstore.postgres import PgUnitOfWork
from app.eventstore.uow import UnitOfWork
from app.kernel.db import metadata
from app.tenants.errors import EmailTakenError
from app.tenants.ports import Directory, DirectoryEntry

tenant_user = sa.Table(
    "tenant_user",
    metadata,
    sa.Column("user_id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False, index=True),
    # Unique across tenants: an e-mail logs in to exactly one tenant.
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
)


_PG_COLUMNS = "user_id::text, tenant_id::text, email, name, role, active, password_hash"


def _pg_entry(row: asyncpg.Record) -> DirectoryEntry:
    return DirectoryEntry(
        user_id=row[0],
        tenant_id=row[1],
        email=row[2],
        name=row[3],
        role=row[4],
        active=row[5],
        password_hash=row[6],
    )


class PgDirectory(Directory):
    """The directory on the lean PostgreSQL unit of work (hand-written SQL on asyncpg)."""

    def __init__(self, uow: PgUnitOfWork) -> None:
        self._uow = uow

    async def add(self, entry: DirectoryEntry) -> None:
        connection = await self._uow.begin(entry.tenant_id)
        try:
            await connection.execute(
                "INSERT INTO tenant_user (user_id, tenant_id, email, name, role, active,"
                " password_hash) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7)",
                entry.user_id,
                entry.tenant_id,
                entry.email,
                entry.name,
                entry.role,
                entry.active,
                entry.password_hash,
            )
        except asyncpg.UniqueViolationError:
            raise EmailTakenError("this e-mail is already registered", field="email") from None

    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> None:
        if name is None and role is None and active is None:
            return
        connection = await self._uow.begin()
        await connection.execute(
            "UPDATE tenant_user SET name = coalesce($2, name), role = coalesce($3, role),"
            " active = coalesce($4, active) WHERE user_id = $1::uuid",
            user_id,
            name,
            role,
            active,
        )

    async def by_email(self, email: str) -> DirectoryEntry | None:
        # Log-in names no tenant yet: the one cross-tenant lookup the app role may make goes
        # through a SECURITY DEFINER function that answers one exact e-mail (docs/security.md).
        connection = await self._uow.ready()
        row = await connection.fetchrow(
            f"SELECT {_PG_COLUMNS} FROM collabspace_user_by_email($1)", email.strip().lower()
        )
        return None if row is None else _pg_entry(row)

    async def by_id(self, tenant_id: str, user_id: str) -> DirectoryEntry | None:
        connection = await self._uow.ready(tenant_id)
        row = await connection.fetchrow(
            f"SELECT {_PG_COLUMNS} FROM tenant_user"
            " WHERE user_id = $1::uuid AND tenant_id = $2::uuid",
            user_id,
            tenant_id,
        )
        return None if row is None else _pg_entry(row)

    async def list(self, tenant_id: str) -> list[DirectoryEntry]:
        connection = await self._uow.ready(tenant_id)
        rows = await connection.fetch(
            f"SELECT {_PG_COLUMNS} FROM tenant_user WHERE tenant_id = $1::uuid ORDER BY name",
            tenant_id,
        )
        return [_pg_entry(row) for row in rows]

    async def count_active(self, tenant_id: str) -> int:
        return await self._count_active(await self._uow.ready(tenant_id), tenant_id)

    async def hold_seats(self, tenant_id: str) -> int:
        # A lock per tenant for the rest of the command's transaction, taken before counting:
        # two invites for the last seat used to count the same users and both take it. Only
        # seat-taking commands wait on it; appends and reads never do.
        connection = await self._uow.begin(tenant_id)
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('collabspace-seats:' || $1, 0))",
            tenant_id,
        )
        return await self._count_active(connection, tenant_id)

    @staticmethod
    async def _count_active(connection: asyncpg.Connection, tenant_id: str) -> int:
        count = await connection.fetchval(
            "SELECT count(*) FROM tenant_user WHERE tenant_id = $1::uuid AND active", tenant_id
        )
        return int(count)


def directory_for(uow: UnitOfWork) -> Directory:
    """The Directory adapter of the PostgreSQL unit of work (DirectoryFactory)."""
    assert isinstance(uow, PgUnitOfWork)
    return PgDirectory(uow)


# -- read side --------------------------------------------------------------------------------

# The user directory read model (projection "users"): names and roles for the API's lists.
# Unlike tenant_user above (written by the commands themselves), it is rebuilt from events.
tenant_user_card = sa.Table(
    "tenant_user_card",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(None, "tenant_id", "name"),
)
