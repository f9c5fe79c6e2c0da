"""What other contexts may ask the tenants context (its public API)."""

from __future__ import annotations

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.tenants.domain import Tenant, User
from app.tenants.errors import UserDeactivatedError, UserNotFoundError


async def require_active_user(uow: UnitOfWork, tenant_id: str, user_id: str) -> None:
    """Refuse a user who is not an active user of this tenant: another tenant's is simply not
    found (no leaks); one of this tenant's who was deactivated is said to be."""
    user = await repository.load(uow, User, user_id)
    if not user.exists or user.tenant_id != tenant_id:
        raise UserNotFoundError(f"user {user_id} not found", field="user_id", user_id=user_id)
    if not user.active:
        raise UserDeactivatedError(
            f"user {user_id} is deactivated and can join no project",
            field="user_id",
            user_id=user_id,
        )


async def take_project_slot(uow: UnitOfWork, tenant_id: str, project_id: str) -> None:
    """Use one of the plan's project slots, in the caller's unit of work.

    The tenant's stream version is the lock: two concurrent creators cannot both take the
    last slot, the loser retries and is refused.
    """
    tenant = await repository.load(uow, Tenant, tenant_id)
    tenant.take_project_slot(project_id)
    await repository.save(uow, tenant, tenant_id=tenant_id)


async def release_project_slot(uow: UnitOfWork, tenant_id: str, project_id: str) -> None:
    """An archived project gives its plan slot back, in the caller's unit of work."""
    tenant = await repository.load(uow, Tenant, tenant_id)
    tenant.release_project_slot(project_id)
    await repository.save(uow, tenant, tenant_id=tenant_id)
