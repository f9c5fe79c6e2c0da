"""Command handlers of the projects context."""

from __future__ import annotations

import uuid

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.messagebus import CommandResult
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
from app.projects.domain import Project
from app.tasks import api as tasks
from app.tenants import api as tenants


async def _saved(uow: UnitOfWork, project: Project) -> CommandResult:
    stored = await repository.save(uow, project, tenant_id=project.tenant_id, project_id=project.id)
    return CommandResult(project.id, project.version, stored[-1].position if stored else 0)


async def create_project(cmd: CreateProject, uow: UnitOfWork) -> CommandResult:
    """Create a project in the caller's tenant, taking one of the plan's project slots."""
    tenant_id = cmd.actor.tenant_id
    project_id = str(uuid.uuid4())
    await tenants.take_project_slot(uow, tenant_id, project_id)
    project = Project.create(
        project_id,
        tenant_id=tenant_id,
        name=cmd.name,
        description=cmd.description,
        budget_cents=cmd.budget_cents,
        by=cmd.actor,
    )
    return await _saved(uow, project)


async def update_project(cmd: UpdateProject, uow: UnitOfWork) -> CommandResult:
    """Rename and/or describe a project."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    if cmd.name is not None:
        project.rename(cmd.name, by=cmd.actor)
    if cmd.description is not None:
        project.describe(cmd.description, by=cmd.actor)
    return await _saved(uow, project)


async def change_project_status(cmd: ChangeProjectStatus, uow: UnitOfWork) -> CommandResult:
    """Move a project along the status transition table; archiving frees its plan slot."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    project.change_status(cmd.status, by=cmd.actor)
    if project.status == "archived":
        await tenants.release_project_slot(uow, project.tenant_id, project.id)
    return await _saved(uow, project)


async def change_project_budget(cmd: ChangeProjectBudget, uow: UnitOfWork) -> CommandResult:
    """Set the budget: never negative, never below the actual spend."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    project.change_budget(cmd.budget_cents, by=cmd.actor)
    return await _saved(uow, project)


async def record_project_spend(cmd: RecordProjectSpend, uow: UnitOfWork) -> CommandResult:
    """Add spend to a project: never above its budget."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    project.record_spend(cmd.amount_cents, cmd.note, by=cmd.actor)
    return await _saved(uow, project)


async def add_project_member(cmd: AddProjectMember, uow: UnitOfWork) -> CommandResult:
    """Add an active user of the same tenant to the project."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    await tenants.require_active_user(uow, cmd.actor.tenant_id, cmd.user_id)
    project.add_member(cmd.user_id, by=cmd.actor, role=cmd.role)
    return await _saved(uow, project)


async def change_project_member_role(
    cmd: ChangeProjectMemberRole, uow: UnitOfWork
) -> CommandResult:
    """Make a member a manager of the project, or a plain member (never the last manager)."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    project.change_member_role(cmd.user_id, cmd.role, by=cmd.actor)
    return await _saved(uow, project)


async def remove_project_member(cmd: RemoveProjectMember, uow: UnitOfWork) -> CommandResult:
    """Remove a member (or leave): from then on they can read nothing of the project, and
    they hold none of its tasks (unassigned in this same command, an event each)."""
    project = await load_readable(uow, cmd.actor, cmd.project_id, cmd.expected_version)
    project.remove_member(cmd.user_id, by=cmd.actor)
    result = await _saved(uow, project)
    await tasks.unassign_user(uow, project.tenant_id, cmd.user_id, project_id=project.id)
    return result
