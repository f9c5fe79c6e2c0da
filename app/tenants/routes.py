"""HTTP endpoints of the tenants context: sign-up, login, users."""

from __future__ import annotations

from typing import Any

from app.eventstore import repository
from app.kernel.db import tenant_connection, tenant_head
from app.kernel.problems import HttpProblem
from app.kernel.web import Api, Call, MutationResult, Reply, execute, path_id
from app.tenants.commands import ChangePlan, DeactivateUser, InviteUser, SignUp, UpdateUser
from app.tenants.domain import Tenant
from app.tenants.ports import DirectoryEntry
from app.tenants.schemas import (
    ChangePlanBody,
    InviteBody,
    LoginBody,
    PlanLimitsOut,
    RealtimeTicketOut,
    SignUpBody,
    SignUpOut,
    TenantPlanOut,
    TokenOut,
    UpdateUserBody,
    UserListOut,
    UserOut,
)

api = Api("tenants")

# Verified against when the e-mail is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH: dict[str, str] = {}


def _token(call: Call[Any, Any], entry_tenant: str, user_id: str, role: str) -> TokenOut:
    services = call.services
    ttl = services.settings.access_token_ttl_s
    token = services.signer.issue(
        {"sub": user_id, "tid": entry_tenant, "role": role},
        kind="access",
        now=services.clock(),
        ttl_s=ttl,
    )
    return TokenOut(access_token=token, expires_in=ttl, tenant_id=entry_tenant, user_id=user_id)


def _user_out(entry: DirectoryEntry) -> UserOut:
    return UserOut(
        id=entry.user_id,
        tenant_id=entry.tenant_id,
        email=entry.email,
        name=entry.name,
        role=entry.role,  # type: ignore[arg-type]
        active=entry.active,
    )


@api.route(
    "POST",
    "/auth/signup",
    summary="Create a tenant and its owner",
    body=SignUpBody,
    response=SignUpOut,
    status=201,
    auth=False,
    errors=(409, 422),
)
async def sign_up(call: Call[SignUpBody, None]) -> Reply:
    b = call.body
    _, result = await call.services.bus.handle(
        SignUp(tenant_name=b.tenant_name, name=b.name, email=b.email, password=b.password),
        meta=call.meta(),
    )
    token = _token(call, result["tenant_id"], result["user_id"], "owner")
    return Reply(SignUpOut(**token.model_dump(), position=result["position"]), 201)


@api.route(
    "POST",
    "/auth/login",
    summary="Exchange e-mail and password for an access token",
    body=LoginBody,
    response=TokenOut,
    auth=False,
    errors=(401, 422, 429),
)
async def login(call: Call[LoginBody, None]) -> Reply:
    services = call.services
    account = call.body.email.lower()
    address = call.request.client.host if call.request.client else "unknown"
    wait = await services.login_throttle.retry_after(account, address)
    if wait:
        raise HttpProblem(
            429,
            "too_many_attempts",
            "too many login attempts; try again later",
            headers={"Retry-After": str(wait)},
        )
    async with services.uow_factory() as uow:
        entry = await services.directory(uow).by_email(account)
    hasher = services.hasher
    if entry is None:
        dummy = _DUMMY_HASH.setdefault("hash", hasher.hash("not-a-real-password"))
        hasher.verify(dummy, call.body.password)
    if (
        entry is None
        or not entry.active
        or not hasher.verify(entry.password_hash, call.body.password)
    ):
        await services.login_throttle.failed(account, address)
        raise HttpProblem(401, "bad_credentials", "wrong e-mail or password")
    await services.login_throttle.succeeded(account)
    return Reply(_token(call, entry.tenant_id, entry.user_id, entry.role))


@api.route("GET", "/me", summary="The caller's own user", response=UserOut, errors=(401,))
async def me(call: Call[None, None]) -> Reply:
    return await _get_user(call, call.actor.user_id)


@api.route(
    "GET", "/users", summary="Users of the caller's tenant", response=UserListOut, errors=(401,)
)
async def list_users(call: Call[None, None]) -> Reply:
    services = call.services
    async with services.uow_factory() as uow:
        entries = await services.directory(uow).list(call.actor.tenant_id)
    return Reply(UserListOut(items=[_user_out(e) for e in entries]))


@api.route(
    "POST",
    "/users",
    summary="Invite a user to the caller's tenant (owners and admins)",
    body=InviteBody,
    response=MutationResult,
    status=201,
    errors=(401, 403, 422),
)
async def invite_user(call: Call[InviteBody, None]) -> Reply:
    b = call.body
    command = InviteUser(call.actor, email=b.email, name=b.name, role=b.role, password=b.password)
    return await execute(call, command, status=201)


@api.route(
    "GET",
    "/users/{user_id}",
    summary="One user of the caller's tenant",
    response=UserOut,
    errors=(401, 404),
)
async def get_user(call: Call[None, None]) -> Reply:
    return await _get_user(call, path_id(call, "user_id"))


async def _get_user(call: Call[Any, Any], user_id: str) -> Reply:
    services = call.services
    async with services.uow_factory() as uow:
        entry = await services.directory(uow).by_id(call.actor.tenant_id, user_id)
    if entry is None:
        raise HttpProblem(404, "user_not_found", f"user {user_id} not found")
    return Reply(_user_out(entry))


@api.route(
    "PATCH",
    "/users/{user_id}",
    summary="Rename a user or change their role",
    body=UpdateUserBody,
    response=MutationResult,
    errors=(401, 403, 404, 409, 422),
)
async def update_user(call: Call[UpdateUserBody, None]) -> Reply:
    command = UpdateUser(
        call.actor,
        path_id(call, "user_id"),
        name=call.body.name,
        role=call.body.role,
        expected_version=call.if_match(),
    )
    reply = await execute(call, command)
    call.services.gate.forget(call.actor.tenant_id, command.user_id)
    return reply


@api.route(
    "DELETE",
    "/users/{user_id}",
    summary="Deactivate a user (owners and admins)",
    response=MutationResult,
    errors=(401, 403, 404, 409),
)
async def deactivate_user(call: Call[None, None]) -> Reply:
    command = DeactivateUser(call.actor, path_id(call, "user_id"), expected_version=call.if_match())
    reply = await execute(call, command)
    # This replica refuses the user's token from the next request; others within the gate's TTL.
    call.services.gate.forget(call.actor.tenant_id, command.user_id)
    return reply


@api.route(
    "GET",
    "/tenant/plan",
    summary="The tenant's plan, its limits, what is in use, and every plan",
    response=TenantPlanOut,
    errors=(401,),
)
async def tenant_plan(call: Call[None, None]) -> Reply:
    services, tenant_id = call.services, call.actor.tenant_id
    async with services.uow_factory(tenant_id=tenant_id) as uow:
        tenant = await repository.load(uow, Tenant, tenant_id)
        members = await services.directory(uow).count_active(tenant_id)
    body = TenantPlanOut(
        tenant_id=tenant_id,
        plan=tenant.plan,  # type: ignore[arg-type]
        project_limit=tenant.project_limit,
        member_limit=tenant.member_limit,
        projects_in_use=tenant.project_count,
        members_in_use=members,
        can_change=call.actor.role == "owner",
        plans=[
            PlanLimitsOut(name=p.name, project_limit=p.project_limit, member_limit=p.member_limit)
            for p in services.plans.values()
        ],
        version=tenant.version,
    )
    return Reply(body, headers={"ETag": f'"{tenant.version}"'})


@api.route(
    "PUT",
    "/tenant/plan",
    summary="Change the tenant's plan (the owner; never below what is in use)",
    body=ChangePlanBody,
    response=MutationResult,
    errors=(401, 403, 409, 422),
)
async def change_plan(call: Call[ChangePlanBody, None]) -> Reply:
    return await execute(call, ChangePlan(call.actor, call.body.plan, call.if_match()))


# Read-your-writes for tickets: a membership committed just before asking is in the ticket.
TICKET_CATCH_UP_S = 1.0


@api.route(
    "POST",
    "/auth/realtime-ticket",
    summary="A short-lived ticket to open the WebSocket",
    response=RealtimeTicketOut,
    errors=(401,),
)
async def realtime_ticket(call: Call[None, None]) -> Reply:
    """Sign what the gateway needs to authorise subscriptions without a database round trip."""
    services, actor = call.services, call.actor
    progress = call.request.state.runtime.read_progress
    if progress is not None:
        # Whichever replica committed it, and wherever the projections run: wait for the
        # tenant's last event (an index lookup under row-level security).
        async with tenant_connection(services.engine, actor.tenant_id) as connection:
            head = await tenant_head(connection, actor.tenant_id)
        await progress.wait_for(head, TICKET_CATCH_UP_S)
    async with tenant_connection(services.engine, actor.tenant_id) as connection:
        project_ids = await services.projects_of_user(connection, actor.tenant_id, actor.user_id)
    async with services.uow_factory() as uow:
        entry = await services.directory(uow).by_id(actor.tenant_id, actor.user_id)
    if entry is None or not entry.active:
        raise HttpProblem(401, "invalid_token", "this user no longer exists or is deactivated")
    ttl = services.settings.realtime_ticket_ttl_s
    claims = {
        "sub": actor.user_id,
        "tid": actor.tenant_id,
        "role": entry.role,
        "name": entry.name,
        "projects": project_ids,
    }
    ticket = services.signer.issue(claims, kind="realtime", now=services.clock(), ttl_s=ttl)
    return Reply(RealtimeTicketOut(ticket=ticket, expires_in=ttl, url=_realtime_url(call)))


def _realtime_url(call: Call[Any, Any]) -> str:
    settings = call.services.settings
    if settings.realtime_public_url:
        return str(settings.realtime_public_url)
    port = call.request.state.runtime.gateway_port or settings.realtime_port
    host = call.request.url.hostname or "127.0.0.1"
    scheme = "wss" if call.request.url.scheme == "https" else "ws"
    return f"{scheme}://{host}:{port}/ws"
