"""HTTP endpoints of the projects context (commands, and the aggregate itself by replay)."""

from __future__ import annotations

import orjson

from app.kernel.web import (
    Api,
    Call,
    MutationResult,
    ReadParams,
    Reply,
    execute,
    path_id,
    query_read_model,
    read_reply,
    wait_for_min_position,
)
from app.kernel.wire import AsOfParams, HistoryOut, StateOut
from app.projects import views
from app.projects.access import load_readable
from app.projects.commands import (
    AddProjectMember,
    ChangeProjectBudget,
    ChangeProjectMemberRole,
    ChangeProjectStatus,
    CreateProject,
    RecordProjectSpend,
    RemoveProjectMember,
    UpdateProject,
)
from app.projects.schemas import (
    BudgetBody,
    CreateProjectBody,
    DashboardOut,
    ListParams,
    MemberBody,
    MemberRoleBody,
    ProjectListOut,
    ProjectOut,
    SpendBody,
    StatusBody,
    UpdateProjectBody,
)

api = Api("projects")
CHANGE_ERRORS = (401, 403, 404, 409, 422)


@api.route(
    "POST",
    "/projects",
    summary="Create a project (refused past the plan's limit)",
    body=CreateProjectBody,
    response=MutationResult,
    status=201,
    errors=(401, 403, 422),
)
async def create_project(call: Call[CreateProjectBody, None]) -> Reply:
    b = call.body
    command = CreateProject(call.actor, b.name, b.description, b.budget_cents)
    return await execute(call, command, status=201)


@api.route(
    "GET",
    "/projects/{project_id}",
    summary="A project's current state, with its ETag",
    response=ProjectOut,
    errors=(401, 404),
)
async def get_project(call: Call[None, None]) -> Reply:
    project_id = path_id(call, "project_id")
    async with call.services.uow_factory(tenant_id=call.actor.tenant_id) as uow:
        p = await load_readable(uow, call.actor, project_id)
        created = await views.project_created_at(uow, p.id)
    body = ProjectOut(
        id=p.id,
        tenant_id=p.tenant_id,
        name=p.name,
        description=p.description,
        status=p.status,  # type: ignore[arg-type]
        budget_cents=p.budget_cents,
        actual_spend_cents=p.actual_spend_cents,
        members=list(p.members),
        managers=sorted(p.managers),
        created_by=p.created_by,
        created_at="" if created is None else created.isoformat(),
        version=p.version,
    )
    return Reply(body, headers={"ETag": f'"{p.version}"'})


@api.route(
    "PATCH",
    "/projects/{project_id}",
    summary="Rename or describe a project",
    body=UpdateProjectBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def update_project(call: Call[UpdateProjectBody, None]) -> Reply:
    command = UpdateProject(
        call.actor,
        path_id(call, "project_id"),
        call.body.name,
        call.body.description,
        call.if_match(),
    )
    return await execute(call, command)


@api.route(
    "POST",
    "/projects/{project_id}/status",
    summary="Change status along the transitions",
    body=StatusBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def change_status(call: Call[StatusBody, None]) -> Reply:
    command = ChangeProjectStatus(
        call.actor, path_id(call, "project_id"), call.body.status, call.if_match()
    )
    return await execute(call, command)


@api.route(
    "PUT",
    "/projects/{project_id}/budget",
    summary="Set the budget (>= actual spend)",
    body=BudgetBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def change_budget(call: Call[BudgetBody, None]) -> Reply:
    command = ChangeProjectBudget(
        call.actor, path_id(call, "project_id"), call.body.budget_cents, call.if_match()
    )
    return await execute(call, command)


@api.route(
    "POST",
    "/projects/{project_id}/spend",
    summary="Record spend (never above budget)",
    body=SpendBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def record_spend(call: Call[SpendBody, None]) -> Reply:
    command = RecordProjectSpend(
        call.actor,
        path_id(call, "project_id"),
        call.body.amount_cents,
        call.body.note,
        call.if_match(),
    )
    return await execute(call, command)


@api.route(
    "POST",
    "/projects/{project_id}/members",
    summary="Add a member",
    body=MemberBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def add_member(call: Call[MemberBody, None]) -> Reply:
    command = AddProjectMember(
        call.actor,
        path_id(call, "project_id"),
        call.body.user_id.lower(),
        call.if_match(),
        role=call.body.role,
    )
    return await execute(call, command)


@api.route(
    "PUT",
    "/projects/{project_id}/members/{user_id}",
    summary="Make a member a manager of the project, or a plain member",
    body=MemberRoleBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def change_member_role(call: Call[MemberRoleBody, None]) -> Reply:
    command = ChangeProjectMemberRole(
        call.actor,
        path_id(call, "project_id"),
        path_id(call, "user_id"),
        call.body.role,
        call.if_match(),
    )
    return await execute(call, command)


@api.route(
    "DELETE",
    "/projects/{project_id}/members/{user_id}",
    summary="Remove a member, or leave (unassigns their tasks; never the last manager)",
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def remove_member(call: Call[None, None]) -> Reply:
    command = RemoveProjectMember(
        call.actor, path_id(call, "project_id"), path_id(call, "user_id"), call.if_match()
    )
    return await execute(call, command)


# -- the read side: answered from read models (history and time travel by replay) ------------


@api.route(
    "GET",
    "/projects",
    summary="The projects the caller may read, newest first",
    query=ListParams,
    response=ProjectListOut,
    errors=(401, 422),
)
async def list_projects(call: Call[None, ListParams]) -> Reply:
    q = call.query
    return await query_read_model(
        call, views.list_projects, call.actor, status=q.status, cursor=q.cursor, limit=q.limit
    )


@api.route(
    "GET",
    "/projects/{project_id}/dashboard",
    summary="A project's dashboard",
    query=ReadParams,
    response=DashboardOut,
    errors=(401, 404, 422),
)
async def project_dashboard(call: Call[None, ReadParams]) -> Reply:
    project_id = path_id(call, "project_id")
    await wait_for_min_position(call)
    # One statement, one primary-key lookup: the document the projection keeps, sent as is.
    async with call.services.pool.autocommit() as raw:
        found = await views.dashboard_document(raw, call.actor, project_id)
    if found is None:
        # A project not written since migration 0005 has no document yet: compose it.
        return await query_read_model(call, views.project_dashboard, call.actor, project_id)
    document, position = found
    return read_reply(call, orjson.Fragment(document), position)


@api.route(
    "GET",
    "/projects/{project_id}/history",
    summary="A project's events, in order",
    response=HistoryOut,
    errors=(401, 404),
)
async def project_history(call: Call[None, None]) -> Reply:
    body = await views.project_history(
        call.services.uow_factory(tenant_id=call.actor.tenant_id),
        call.actor,
        path_id(call, "project_id"),
    )
    return Reply(body)


@api.route(
    "GET",
    "/projects/{project_id}/state",
    summary="A project as it was at a version or a time (rebuilt by replay)",
    query=AsOfParams,
    response=StateOut,
    errors=(401, 404, 422),
)
async def project_state(call: Call[None, AsOfParams]) -> Reply:
    body = await views.project_state(
        call.services.uow_factory(tenant_id=call.actor.tenant_id),
        call.actor,
        path_id(call, "project_id"),
        as_of_version=call.query.as_of_version,
        as_of=call.query.as_of,
    )
    return Reply(body)
