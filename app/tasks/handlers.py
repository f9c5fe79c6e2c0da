"""Command handlers of the tasks context. Project access comes through the Projects port
(bound to the projects context's public API by the composition root)."""

from __future__ import annotations

import uuid

from app.eventstore import repository
from app.eventstore.uow import UnitOfWork
from app.kernel.domain import Actor
from app.kernel.messagebus import CommandResult
from app.tasks.access import load_readable_task
from app.tasks.commands import (
    AddTaskComment,
    ArchiveTask,
    AssignTask,
    CreateTask,
    DeleteTaskComment,
    EditTask,
    EditTaskComment,
    MoveTask,
)
from app.tasks.domain import Task
from app.tasks.errors import ProjectClosedError
from app.tasks.ports import Projects, ProjectView


async def _open_project(
    uow: UnitOfWork, actor: Actor, project_id: str, projects: Projects
) -> ProjectView:
    project = await projects.readable_project(uow, actor, project_id)
    _check_accepts_work(project)
    _decided_on(uow, project)
    return project


def _decided_on(uow: UnitOfWork, project: ProjectView) -> None:
    """The command's decision rests on the project as read (its status, its members): the
    commit fails with ConcurrencyError if the project moved on meanwhile, and the bus retries
    the command on the new state. Without it, an assignment racing a member's removal could
    commit an assignee who is no longer a member (docs/permissions.md)."""
    uow.events.expect(project.stream_id, project.version)


def _check_accepts_work(project: ProjectView) -> None:
    if not project.accepts_work:
        raise ProjectClosedError(
            f"the project is {project.status}: its tasks no longer change",
            project_id=project.project_id,
            project_status=project.status,
        )


async def _changeable(
    uow: UnitOfWork, actor: Actor, task_id: str, expected_version: int | None, projects: Projects
) -> tuple[Task, ProjectView]:
    task, project = await load_readable_task(
        uow, actor, task_id, expected_version, projects=projects
    )
    _check_accepts_work(project)
    _decided_on(uow, project)
    return task, project


async def _saved(uow: UnitOfWork, task: Task, tenant_id: str) -> CommandResult:
    stored = await repository.save(uow, task, tenant_id=tenant_id, project_id=task.project_id)
    return CommandResult(task.id, task.version, stored[-1].position if stored else 0)


async def create_task(cmd: CreateTask, uow: UnitOfWork, *, projects: Projects) -> CommandResult:
    """Create a task in a project the caller can read, optionally assigned to a member."""
    project = await _open_project(uow, cmd.actor, cmd.project_id, projects)
    task = Task.create(
        str(uuid.uuid4()),
        project_id=project.project_id,
        title=cmd.title,
        description=cmd.description,
        created_by=cmd.actor.user_id,
    )
    if cmd.due_at is not None or cmd.priority is not None:
        task.schedule(due_at=cmd.due_at, priority=cmd.priority)
    if cmd.assignee_id is not None:
        task.assign(cmd.assignee_id, project_members=list(project.members))
    return await _saved(uow, task, project.tenant_id)


async def edit_task(cmd: EditTask, uow: UnitOfWork, *, projects: Projects) -> CommandResult:
    """Change a task's title, description, priority and/or due date."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, cmd.expected_version, projects)
    task.edit(title=cmd.title, description=cmd.description)
    if cmd.set_due_at:
        task.schedule(due_at=cmd.due_at, priority=cmd.priority)
    elif cmd.priority is not None:
        task.prioritize(cmd.priority)
    return await _saved(uow, task, project.tenant_id)


async def assign_task(cmd: AssignTask, uow: UnitOfWork, *, projects: Projects) -> CommandResult:
    """Assign a task to a member of its project (None unassigns)."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, cmd.expected_version, projects)
    task.assign(cmd.assignee_id, project_members=list(project.members))
    return await _saved(uow, task, project.tenant_id)


async def move_task(cmd: MoveTask, uow: UnitOfWork, *, projects: Projects) -> CommandResult:
    """Move a task between todo, in_progress and done (reopening included)."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, cmd.expected_version, projects)
    task.move(cmd.status)
    return await _saved(uow, task, project.tenant_id)


async def archive_task(cmd: ArchiveTask, uow: UnitOfWork, *, projects: Projects) -> CommandResult:
    """Archive a task; it keeps its history but changes no more."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, cmd.expected_version, projects)
    task.archive()
    return await _saved(uow, task, project.tenant_id)


async def add_task_comment(
    cmd: AddTaskComment, uow: UnitOfWork, *, projects: Projects
) -> CommandResult:
    """Comment on a task of a project open for work; the answer's id is the comment's."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, None, projects)
    comment_id = str(uuid.uuid4())
    task.add_comment(comment_id, author_id=cmd.actor.user_id, body=cmd.body)
    saved = await _saved(uow, task, project.tenant_id)
    return CommandResult(comment_id, saved.version, saved.position)


async def edit_task_comment(
    cmd: EditTaskComment, uow: UnitOfWork, *, projects: Projects
) -> CommandResult:
    """Change the text of one's own comment."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, None, projects)
    task.edit_comment(cmd.comment_id, by=cmd.actor.user_id, body=cmd.body)
    saved = await _saved(uow, task, project.tenant_id)
    return CommandResult(cmd.comment_id, saved.version, saved.position)


async def delete_task_comment(
    cmd: DeleteTaskComment, uow: UnitOfWork, *, projects: Projects
) -> CommandResult:
    """Delete one's own comment."""
    task, project = await _changeable(uow, cmd.actor, cmd.task_id, None, projects)
    task.delete_comment(cmd.comment_id, by=cmd.actor.user_id)
    saved = await _saved(uow, task, project.tenant_id)
    return CommandResult(cmd.comment_id, saved.version, saved.position)
