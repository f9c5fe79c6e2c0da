"""Tenant queries: the user directory read model."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.domain import Actor
from app.readside.projector import read_checkpoints
from app.tenants.tables import tenant_user_card

USERS_READS = ("users",)


async def list_users(connection: AsyncConnection, actor: Actor) -> dict[str, Any]:
    """The actor's tenant's users by name (never an e-mail of another tenant)."""
    rows = await connection.execute(
        sa.select(tenant_user_card)
        .where(tenant_user_card.c.tenant_id == actor.tenant_id)
        .order_by(tenant_user_card.c.name, tenant_user_card.c.user_id)
    )
    items = [
        {
            "user_id": r.user_id,
            "name": r.name,
            "email": r.email,
            "role": r.role,
            "active": r.active,
        }
        for r in rows
    ]
    checkpoints = await read_checkpoints(connection, USERS_READS)
    return {"items": items, "as_of_position": checkpoints["users"]}
