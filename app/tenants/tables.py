"""The user directory table and its SQL adapter (the Directory port)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.kernel.db import metadata
from app.kernel.uow import SqlUnitOfWork, UnitOfWork
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


def _entry(row: Any) -> DirectoryEntry:
    return DirectoryEntry(
        user_id=str(row.user_id),
        tenant_id=str(row.tenant_id),
        email=row.email,
        name=row.name,
        role=row.role,
        active=row.active,
        password_hash=row.password_hash,
    )


class SqlDirectory(Directory):
    def __init__(self, uow: UnitOfWork) -> None:
        assert isinstance(uow, SqlUnitOfWork)
        self._connection = uow.connection

    async def add(self, entry: DirectoryEntry) -> None:
        try:
            await self._connection.execute(
                tenant_user.insert().values(
                    user_id=uuid.UUID(entry.user_id),
                    tenant_id=uuid.UUID(entry.tenant_id),
                    email=entry.email,
                    name=entry.name,
                    role=entry.role,
                    active=entry.active,
                    password_hash=entry.password_hash,
                )
            )
        except IntegrityError:
            raise EmailTakenError("this e-mail is already registered", field="email") from None

    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        role: str | None = None,
        active: bool | None = None,
    ) -> None:
        values = {
            k: v for k, v in {"name": name, "role": role, "active": active}.items() if v is not None
        }
        if values:
            await self._connection.execute(
                tenant_user.update()
                .where(tenant_user.c.user_id == uuid.UUID(user_id))
                .values(**values)
            )

    async def by_email(self, email: str) -> DirectoryEntry | None:
        row = (
            await self._connection.execute(
                tenant_user.select().where(tenant_user.c.email == email.strip().lower())
            )
        ).first()
        return None if row is None else _entry(row)

    async def by_id(self, tenant_id: str, user_id: str) -> DirectoryEntry | None:
        row = (
            await self._connection.execute(
                tenant_user.select().where(
                    tenant_user.c.user_id == uuid.UUID(user_id),
                    tenant_user.c.tenant_id == uuid.UUID(tenant_id),
                )
            )
        ).first()
        return None if row is None else _entry(row)

    async def list(self, tenant_id: str) -> list[DirectoryEntry]:
        rows = await self._connection.execute(
            tenant_user.select()
            .where(tenant_user.c.tenant_id == uuid.UUID(tenant_id))
            .order_by(tenant_user.c.name)
        )
        return [_entry(row) for row in rows]


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
