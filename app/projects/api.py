"""What other contexts may ask the projects context (its public API)."""

from __future__ import annotations

import dataclasses

from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.projects.access import (
    member_project_ids,
    projects_of_user,
    readable_project_ids,
    require_readable,
)
from app.projects.errors import ProjectNotFoundError
from app.projects.handlers import load_readable


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectAccess:
    project_id: str
    tenant_id: str
    status: str
    members: tuple[str, ...]


async def readable_project(uow: UnitOfWork, actor: Actor, project_id: str) -> ProjectAccess:
    """The project as other contexts may see it; unknown or unreadable ones are not found."""
    project = await load_readable(uow, actor, project_id)
    return ProjectAccess(project.id, project.tenant_id, project.status, tuple(project.members))


__all__ = [
    "ProjectAccess",
    "ProjectNotFoundError",
    "member_project_ids",
    "projects_of_user",
    "readable_project",
    "readable_project_ids",
    "require_readable",
]
