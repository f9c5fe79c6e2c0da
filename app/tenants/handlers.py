"""Command handlers of the tenants context."""

from __future__ import annotations

import uuid

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.messagebus import CommandResult
from app.tenants.commands import ChangePlan, DeactivateUser, InviteUser, SignUp, UpdateUser
from app.tenants.domain import DEFAULT_PLAN, Plan, Tenant, User, find_plan
from app.tenants.errors import UserNotFoundError
from app.tenants.ports import DirectoryEntry, DirectoryFactory, PasswordHasher, ReleaseUser


def _normalize_email(email: str) -> str:
    return email.strip().lower()


async def sign_up(
    cmd: SignUp,
    uow: UnitOfWork,
    *,
    directory: DirectoryFactory,
    hasher: PasswordHasher,
    plans: dict[str, Plan],
) -> CommandResult:
    """Create a tenant on the default plan with its owner; the e-mail must be free across all
    tenants."""
    tenant_id, owner_id = str(uuid.uuid4()), str(uuid.uuid4())
    email = _normalize_email(cmd.email)
    tenant = Tenant.register(tenant_id, cmd.tenant_name, plans[DEFAULT_PLAN], owner_id)
    owner = User.register(
        owner_id, tenant_id=tenant_id, email=email, name=cmd.name, role="owner", invited_by=None
    )
    await directory(uow).add(
        DirectoryEntry(
            owner_id, tenant_id, email, cmd.name, "owner", True, hasher.hash(cmd.password)
        )
    )
    await repository.save(uow, tenant, tenant_id=tenant_id)
    stored = await repository.save(uow, owner, tenant_id=tenant_id)
    return CommandResult(
        tenant_id,
        tenant.version,
        stored[-1].position,
        {"tenant_id": tenant_id, "user_id": owner_id},
    )


async def invite_user(
    cmd: InviteUser, uow: UnitOfWork, *, directory: DirectoryFactory, hasher: PasswordHasher
) -> CommandResult:
    """Owners and admins add users to their own tenant, with an initial password, within the
    plan's member limit.

    The limit is checked against the directory with the tenant's seats held until the invite
    commits, so invites racing for the last seat take it one at a time (docs/permissions.md).
    """
    tenant = await repository.load(uow, Tenant, cmd.actor.tenant_id)
    tenant.check_seat(await directory(uow).hold_seats(cmd.actor.tenant_id))
    user_id = str(uuid.uuid4())
    email = _normalize_email(cmd.email)
    user = User.register(
        user_id,
        tenant_id=cmd.actor.tenant_id,
        email=email,
        name=cmd.name,
        role=cmd.role,
        invited_by=cmd.actor,
    )
    await directory(uow).add(
        DirectoryEntry(
            user_id, cmd.actor.tenant_id, email, cmd.name, cmd.role, True, hasher.hash(cmd.password)
        )
    )
    stored = await repository.save(uow, user, tenant_id=cmd.actor.tenant_id)
    return CommandResult(user_id, user.version, stored[-1].position)


async def _load_user(uow: UnitOfWork, tenant_id: str, user_id: str) -> User:
    user = await repository.load(uow, User, user_id)
    if not user.exists or user.tenant_id != tenant_id:
        raise UserNotFoundError(f"user {user_id} not found", user_id=user_id)
    return user


async def update_user(
    cmd: UpdateUser, uow: UnitOfWork, *, directory: DirectoryFactory
) -> CommandResult:
    """Rename a user (themselves or an admin) and/or change their role (admins)."""
    user = await _load_user(uow, cmd.actor.tenant_id, cmd.user_id)
    user.check_version(cmd.expected_version)
    if cmd.name is not None:
        user.rename(cmd.name, by=cmd.actor)
    if cmd.role is not None:
        user.change_role(cmd.role, by=cmd.actor)
    await directory(uow).update(user.id, name=user.name, role=user.role)
    return await _saved(uow, user, cmd.actor.tenant_id)


async def deactivate_user(
    cmd: DeactivateUser,
    uow: UnitOfWork,
    *,
    directory: DirectoryFactory,
    release_user: ReleaseUser,
) -> CommandResult:
    """Deactivated users cannot log in and leave every project and task they held (in this
    same command); their history stays."""
    user = await _load_user(uow, cmd.actor.tenant_id, cmd.user_id)
    user.check_version(cmd.expected_version)
    user.deactivate(by=cmd.actor)
    result = await _saved(uow, user, cmd.actor.tenant_id)
    await release_user(uow, cmd.actor, user.id)
    await directory(uow).update(user.id, active=False)
    return result


async def change_plan(
    cmd: ChangePlan, uow: UnitOfWork, *, directory: DirectoryFactory, plans: dict[str, Plan]
) -> CommandResult:
    """The owner moves the tenant to another plan, refused below what it uses now."""
    plan = find_plan(plans, cmd.plan)
    tenant_id = cmd.actor.tenant_id
    tenant = await repository.load(uow, Tenant, tenant_id)
    tenant.check_version(cmd.expected_version)
    tenant.change_plan(
        plan, by=cmd.actor, members_in_use=await directory(uow).hold_seats(tenant_id)
    )
    stored = await repository.save(uow, tenant, tenant_id=tenant_id)
    return CommandResult(tenant_id, tenant.version, stored[-1].position if stored else 0)


async def _saved(uow: UnitOfWork, user: User, tenant_id: str) -> CommandResult:
    stored = await repository.save(uow, user, tenant_id=tenant_id)
    return CommandResult(user.id, user.version, stored[-1].position if stored else 0)
