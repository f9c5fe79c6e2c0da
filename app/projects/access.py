"""Who may read which project: from the event store (the aggregate, for commands and history)
and from the read model (members, and the tenant's owners/admins, for queries).

Anything else (another tenant's project, a project the caller is not in) is "not found".
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.projects.domain import Project
from app.projects.errors import ProjectNotFoundError
from app.projects.tables import project_member, project_summary


def member_project_ids(tenant_id: str, user_id: str) -> sa.Select[Any]:
    """A subquery of the projects the user is a member of."""
    return sa.select(project_member.c.project_id).where(
        project_member.c.tenant_id == tenant_id, project_member.c.user_id == user_id
    )


def readable_projects_query(actor: Actor) -> sa.Select[Any] | None:
    """A subquery of the projects the actor may read, or None: all of the tenant's (owners and
    admins), which the caller's tenant filter already says."""
    return None if actor.is_admin else member_project_ids(actor.tenant_id, actor.user_id)


async def can_read(connection: AsyncConnection, actor: Actor, project_id: str) -> bool:
    if actor.is_admin:
        query = sa.select(project_summary.c.project_id).where(
            project_summary.c.tenant_id == actor.tenant_id,
            project_summary.c.project_id == project_id,
        )
    else:
        query = member_project_ids(actor.tenant_id, actor.user_id).where(
            project_member.c.project_id == project_id
        )
    return (await connection.scalar(query)) is not None


async def require_readable(connection: AsyncConnection, actor: Actor, project_id: str) -> None:
    if not await can_read(connection, actor, project_id):
        raise ProjectNotFoundError(f"project {project_id} not found", project_id=project_id)


async def projects_of_user(connection: AsyncConnection, tenant_id: str, user_id: str) -> list[str]:
    """The projects the user is a member of (for realtime tickets), sorted."""
    query = member_project_ids(tenant_id, user_id).order_by(project_member.c.project_id)
    return [str(v) for v in await connection.scalars(query)]


async def readable_project_ids(connection: AsyncConnection, actor: Actor) -> list[str]:
    """Every project the actor may read: all of the tenant's for owners/admins."""
    if not actor.is_admin:
        return await projects_of_user(connection, actor.tenant_id, actor.user_id)
    query = (
        sa.select(project_summary.c.project_id)
        .where(project_summary.c.tenant_id == actor.tenant_id)
        .order_by(project_summary.c.project_id)
    )
    return [str(v) for v in await connection.scalars(query)]


async def load_readable(
    uow: UnitOfWork, actor: Actor, project_id: str, expected_version: int | None = None
) -> Project:
    """The project if the caller may read it (at the expected version, if one is given)."""
    project = await repository.load(uow, Project, project_id)
    if not project.exists:
        raise ProjectNotFoundError(f"project {project_id} not found", project_id=project_id)
    project.check_readable(actor)
    project.check_version(expected_version)
    return project
