"""What other contexts may ask the projects context (its public API)."""

from __future__ import annotations

import dataclasses

from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.projects.access import (
    load_readable,
    member_project_ids,
    projects_of_user,
    readable_project_ids,
    require_readable,
)
from app.projects.domain import Project
from app.projects.errors import ProjectNotFoundError
from app.projects.tables import project_summary


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectAccess:
    project_id: str
    tenant_id: str
    status: str
    members: tuple[str, ...]


def prefetch_project(uow: UnitOfWork, project_id: str) -> None:
    """Announce that this unit of work will check the project next, so that its stream comes
    with the next load (one round trip for a task and its project)."""
    uow.events.prefetch([Project.stream_id_for(project_id)])


async def readable_project(uow: UnitOfWork, actor: Actor, project_id: str) -> ProjectAccess:
    """The project as other contexts may see it; unknown or unreadable ones are not found."""
    project = await load_readable(uow, actor, project_id)
    return ProjectAccess(project.id, project.tenant_id, project.status, tuple(project.members))


__all__ = [
    "ProjectAccess",
    "ProjectNotFoundError",
    "prefetch_project",
    "project_summary",
    "member_project_ids",
    "projects_of_user",
    "readable_project",
    "readable_project_ids",
    "require_readable",
]
