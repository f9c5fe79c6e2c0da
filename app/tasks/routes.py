"""HTTP endpoints of the tasks context."""

from __future__ import annotations

from app.kernel.web import (
    Api,
    Call,
    MutationResult,
    ReadParams,
    Reply,
    execute,
    path_id,
    query_read_model,
)
from app.kernel.wire import AsOfParams, HistoryOut, StateOut
from app.tasks import views
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
from app.tasks.schemas import (
    AssignBody,
    BoardOut,
    CommentBodyIn,
    CommentsOut,
    CommentsParams,
    CreateTaskBody,
    EditTaskBody,
    MoveBody,
    MyTasksOut,
    MyTasksParams,
    TaskOut,
)

api = Api("tasks")
CHANGE_ERRORS = (401, 404, 409, 422)


@api.route(
    "POST",
    "/projects/{project_id}/tasks",
    summary="Create a task in a project (with a due date and priority, optionally)",
    body=CreateTaskBody,
    response=MutationResult,
    status=201,
    errors=(401, 404, 409, 422),
)
async def create_task(call: Call[CreateTaskBody, None]) -> Reply:
    b = call.body
    assignee = None if b.assignee_id is None else b.assignee_id.lower()
    command = CreateTask(
        call.actor,
        path_id(call, "project_id"),
        b.title,
        b.description,
        assignee,
        due_at=b.due_at,
        priority=b.priority,
    )
    return await execute(call, command, status=201)


@api.route(
    "GET",
    "/tasks/{task_id}",
    summary="A task's current state, with its ETag",
    response=TaskOut,
    errors=(401, 404),
)
async def get_task(call: Call[None, None]) -> Reply:
    async with call.services.uow_factory(tenant_id=call.actor.tenant_id) as uow:
        t, _ = await load_readable_task(
            uow, call.actor, path_id(call, "task_id"), projects=call.services.projects
        )
        created = await views.task_created_at(uow, t.id)
    body = TaskOut(
        id=t.id,
        project_id=t.project_id,
        title=t.title,
        description=t.description,
        status=t.status,  # type: ignore[arg-type]
        assignee_id=t.assignee_id,
        archived=t.archived,
        created_by=t.created_by,
        created_at="" if created is None else created.isoformat(),
        due_at=t.due_at,
        priority=t.priority,  # type: ignore[arg-type]
        comment_count=len(t.comments),
        version=t.version,
    )
    return Reply(body, headers={"ETag": f'"{t.version}"'})


@api.route(
    "PATCH",
    "/tasks/{task_id}",
    summary="Edit a task's title, description, priority or due date (null clears it)",
    body=EditTaskBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def edit_task(call: Call[EditTaskBody, None]) -> Reply:
    command = EditTask(
        call.actor,
        path_id(call, "task_id"),
        call.body.title,
        call.body.description,
        call.if_match(),
        priority=call.body.priority,
        due_at=call.body.due_at,
        set_due_at="due_at" in call.body.model_fields_set,
    )
    return await execute(call, command)


@api.route(
    "PUT",
    "/tasks/{task_id}/assignee",
    summary="Assign to a project member (null unassigns)",
    body=AssignBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def assign_task(call: Call[AssignBody, None]) -> Reply:
    assignee = None if call.body.assignee_id is None else call.body.assignee_id.lower()
    command = AssignTask(call.actor, path_id(call, "task_id"), assignee, call.if_match())
    return await execute(call, command)


@api.route(
    "POST",
    "/tasks/{task_id}/move",
    summary="Move between todo, in_progress and done",
    body=MoveBody,
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def move_task(call: Call[MoveBody, None]) -> Reply:
    command = MoveTask(call.actor, path_id(call, "task_id"), call.body.status, call.if_match())
    return await execute(call, command)


@api.route(
    "POST",
    "/tasks/{task_id}/archive",
    summary="Archive a task",
    response=MutationResult,
    errors=CHANGE_ERRORS,
)
async def archive_task(call: Call[None, None]) -> Reply:
    command = ArchiveTask(call.actor, path_id(call, "task_id"), call.if_match())
    return await execute(call, command)


@api.route(
    "GET",
    "/projects/{project_id}/board",
    summary="A project's tasks grouped by status",
    query=ReadParams,
    response=BoardOut,
    errors=(401, 404, 422),
)
async def task_board(call: Call[None, ReadParams]) -> Reply:
    project_id = path_id(call, "project_id")
    return await query_read_model(
        call, views.task_board, call.actor, project_id, projects=call.services.projects
    )


@api.route(
    "GET",
    "/tasks/{task_id}/history",
    summary="A task's events, in order",
    response=HistoryOut,
    errors=(401, 404),
)
async def task_history(call: Call[None, None]) -> Reply:
    body = await views.task_history(
        call.services.uow_factory(tenant_id=call.actor.tenant_id),
        call.actor,
        path_id(call, "task_id"),
        projects=call.services.projects,
    )
    return Reply(body)


@api.route(
    "GET",
    "/tasks/{task_id}/state",
    summary="A task as it was at a version or a time (rebuilt by replay)",
    query=AsOfParams,
    response=StateOut,
    errors=(401, 404, 422),
)
async def task_state(call: Call[None, AsOfParams]) -> Reply:
    body = await views.task_state(
        call.services.uow_factory(tenant_id=call.actor.tenant_id),
        call.actor,
        path_id(call, "task_id"),
        as_of_version=call.query.as_of_version,
        as_of=call.query.as_of,
        projects=call.services.projects,
    )
    return Reply(body)


@api.route(
    "GET",
    "/me/tasks",
    summary="My tasks: assigned to me across the projects I may read, soonest due first",
    query=MyTasksParams,
    response=MyTasksOut,
    errors=(401, 422),
)
async def my_tasks(call: Call[None, MyTasksParams]) -> Reply:
    q = call.query
    return await query_read_model(
        call,
        views.my_tasks,
        call.actor,
        projects=call.services.projects,
        cursor=q.cursor,
        limit=q.limit,
        include_done=q.include_done,
    )


@api.route(
    "GET",
    "/tasks/{task_id}/comments",
    summary="A task's comments, oldest first",
    query=CommentsParams,
    response=CommentsOut,
    errors=(401, 404, 422),
)
async def task_comments(call: Call[None, CommentsParams]) -> Reply:
    task_id = path_id(call, "task_id")
    async with call.services.uow_factory(tenant_id=call.actor.tenant_id) as uow:
        task, _ = await load_readable_task(
            uow, call.actor, task_id, projects=call.services.projects
        )
    return await query_read_model(
        call,
        views.task_comments,
        call.actor,
        task_id,
        project_id=task.project_id,
        cursor=call.query.cursor,
        limit=call.query.limit,
    )


@api.route(
    "POST",
    "/tasks/{task_id}/comments",
    summary="Comment on a task (the answer's id is the comment's)",
    body=CommentBodyIn,
    response=MutationResult,
    status=201,
    errors=CHANGE_ERRORS,
)
async def add_comment(call: Call[CommentBodyIn, None]) -> Reply:
    command = AddTaskComment(call.actor, path_id(call, "task_id"), call.body.body)
    return await execute(call, command, status=201)


@api.route(
    "PATCH",
    "/tasks/{task_id}/comments/{comment_id}",
    summary="Edit one's own comment",
    body=CommentBodyIn,
    response=MutationResult,
    errors=(401, 403, 404, 409, 422),
)
async def edit_comment(call: Call[CommentBodyIn, None]) -> Reply:
    command = EditTaskComment(
        call.actor, path_id(call, "task_id"), path_id(call, "comment_id"), call.body.body
    )
    return await execute(call, command)


@api.route(
    "DELETE",
    "/tasks/{task_id}/comments/{comment_id}",
    summary="Delete one's own comment",
    response=MutationResult,
    errors=(401, 403, 404, 409),
)
async def delete_comment(call: Call[None, None]) -> Reply:
    command = DeleteTaskComment(call.actor, path_id(call, "task_id"), path_id(call, "comment_id"))
    return await execute(call, command)
