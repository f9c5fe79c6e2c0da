"""What the tasks context needs from the projects context, as a port.

A task belongs to a project, and who may read a task is who may read its project. The projects
context answers (its `api` module has exactly these functions) and the composition root binds
it: tasks imports nothing from projects, which reacts to task events for its dashboard, so the
two stay free of a package-level cycle.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor


class ProjectView(Protocol):
    """A project as tasks sees it."""

    @property
    def project_id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def members(self) -> tuple[str, ...]: ...

    @property
    def accepts_work(self) -> bool:
        """Whether tasks may be created, edited, moved or assigned (not once completed,
        cancelled or archived)."""

    @property
    def stream_id(self) -> str:
        """The project's event stream."""

    @property
    def version(self) -> int:
        """The stream's version these answers were read at."""


class Projects(Protocol):
    def prefetch_project(self, uow: UnitOfWork, project_id: str) -> None:
        """Announce the project is checked next (its stream comes with the next load)."""

    async def readable_project(self, uow: UnitOfWork, actor: Actor, project_id: str) -> ProjectView:
        """The project if the actor may read it, else a NotFoundError."""

    async def require_readable(self, connection: Any, actor: Actor, project_id: str) -> None:
        """Refuse (NotFoundError) a project the actor may not read, from the read model."""

    def readable_projects_query(self, actor: Actor) -> Any:
        """A subquery of the project ids the actor may read, or None for all of the tenant's."""
