"""What other contexts may ask the tasks context (its public API): unassigning a user, and the
board's table (for reports)."""

from __future__ import annotations

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.tasks.domain import Task
from app.tasks.events import TaskAssigned, TaskUnassigned
from app.tasks.tables import task_card

__all__ = ["task_card", "unassign_user"]

_ASSIGNMENT_TYPES = (TaskAssigned.__name__, TaskUnassigned.__name__)


async def unassign_user(
    uow: UnitOfWork, tenant_id: str, user_id: str, *, project_id: str | None = None
) -> int:
    """Unassign the user from every open task they hold (in one project, or in the whole
    tenant), in the caller's unit of work, with a TaskUnassigned event each; how many.

    The tasks come from the event store's own record of assignments (not a read model, which
    may lag), so an assignment committed just before this command is not missed.
    """
    holder: dict[str, tuple[str, str | None]] = {}
    for record in await uow.events.read_types(tenant_id, _ASSIGNMENT_TYPES, project_id=project_id):
        task_id = str(record.data["task_id"])
        assignee = record.data["assignee_id"] if record.type == "TaskAssigned" else None
        holder[task_id] = (str(record.data["project_id"]), assignee)
    held = sorted(task_id for task_id, (_, who) in holder.items() if who == user_id)
    count = 0
    for task_id in held:
        task = await repository.load(uow, Task, task_id)
        if task.release_assignee(user_id):
            await repository.save(uow, task, tenant_id=tenant_id, project_id=task.project_id)
            count += 1
    return count
