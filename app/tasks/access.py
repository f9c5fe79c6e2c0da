"""Who may read which task: whoever may read its project now (asked through the port)."""

from __future__ import annotations

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor, NotFoundError
from app.tasks.domain import Task
from app.tasks.errors import TaskNotFoundError
from app.tasks.ports import Projects, ProjectView


async def load_readable_task(
    uow: UnitOfWork,
    actor: Actor,
    task_id: str,
    expected_version: int | None = None,
    *,
    projects: Projects,
) -> tuple[Task, ProjectView]:
    """A task the caller may read: its project must be readable; otherwise it is not found."""
    known = repository.peek(uow, Task, task_id)
    if known is not None:
        # A task never changes project: load the project's stream with the task's.
        projects.prefetch_project(uow, known.project_id)
    task = await repository.load(uow, Task, task_id)
    if not task.exists:
        raise TaskNotFoundError(f"task {task_id} not found", task_id=task_id)
    try:
        project = await projects.readable_project(uow, actor, task.project_id)
    except NotFoundError:
        raise TaskNotFoundError(f"task {task_id} not found", task_id=task_id) from None
    task.check_version(expected_version)
    return task, project
