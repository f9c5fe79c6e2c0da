"""What other contexts may ask the projects context (its public API)."""

from __future__ import annotations

import dataclasses

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.projects.access import (
    load_readable,
    member_project_ids,
    projects_of_user,
    readable_project_ids,
    readable_projects_query,
    require_readable,
)
from app.projects.domain import Project
from app.projects.errors import ProjectNotFoundError
from app.projects.events import ProjectMemberAdded, ProjectMemberRemoved
from app.projects.tables import project_summary
from app.tasks import api as tasks

_MEMBERSHIP_TYPES = (ProjectMemberAdded.__name__, ProjectMemberRemoved.__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectAccess:
    project_id: str
    tenant_id: str
    status: str
    members: tuple[str, ...]
    # Whether tasks may be created, edited, moved or assigned (docs/permissions.md).
    accepts_work: bool
    # The project's stream and the version these answers were read at: a command that decides
    # on them makes it a condition of its commit (`EventStore.expect`).
    stream_id: str
    version: int


def prefetch_project(uow: UnitOfWork, project_id: str) -> None:
    """Announce that this unit of work will check the project next, so that its stream comes
    with the next load (one round trip for a task and its project)."""
    uow.events.prefetch([Project.stream_id_for(project_id)])


async def readable_project(uow: UnitOfWork, actor: Actor, project_id: str) -> ProjectAccess:
    """The project as other contexts may see it; unknown or unreadable ones are not found."""
    project = await load_readable(uow, actor, project_id)
    return ProjectAccess(
        project.id,
        project.tenant_id,
        project.status,
        tuple(project.members),
        project.accepts_work,
        project.stream_id,
        project.version,
    )


async def release_user(uow: UnitOfWork, actor: Actor, user_id: str) -> None:
    """A user is deactivated: end every membership they hold and every assignment, in the
    caller's unit of work (events each). A project they were the last manager of passes to
    the deactivating admin. Archived projects are final and keep them as history.

    Their projects come from the event store's membership events of the tenant: a rare
    command, one indexed scan of the tenant's events of two types.
    """
    tenant_id = actor.tenant_id
    member_of: dict[str, bool] = {}
    for record in await uow.events.read_types(tenant_id, _MEMBERSHIP_TYPES):
        if record.data["user_id"] == user_id:
            member_of[str(record.data["project_id"])] = record.type == "ProjectMemberAdded"
    for project_id in sorted(p for p, member in member_of.items() if member):
        project = await repository.load(uow, Project, project_id)
        project.release_departing_user(user_id, by=actor)
        await repository.save(uow, project, tenant_id=tenant_id, project_id=project_id)
    await tasks.unassign_user(uow, tenant_id, user_id)


__all__ = [
    "ProjectAccess",
    "ProjectNotFoundError",
    "prefetch_project",
    "project_summary",
    "member_project_ids",
    "projects_of_user",
    "readable_project",
    "readable_project_ids",
    "readable_projects_query",
    "release_user",
    "require_readable",
]
