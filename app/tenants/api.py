"""What other contexts may ask the tenants context (its public API)."""

from __future__ import annotations

from app.kernel import repository
from app.kernel.uow import UnitOfWork
from app.tenants.domain import User
from app.tenants.errors import UserNotFoundError


async def require_active_user(uow: UnitOfWork, tenant_id: str, user_id: str) -> None:
    """Refuse a user who is not an active user of this tenant (as not found: no leaks)."""
    user = await repository.load(uow, User, user_id)
    if not user.exists or user.tenant_id != tenant_id or not user.active:
        raise UserNotFoundError(f"user {user_id} not found", field="user_id", user_id=user_id)
