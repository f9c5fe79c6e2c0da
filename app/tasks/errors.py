from __future__ import annotations

from app.kernel.domain import (
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)


class TasksError(DomainError):
    code = "tasks_error"


class TaskNotFoundError(TasksError, NotFoundError):
    code = "task_not_found"


class TaskArchivedError(TasksError, RuleViolationError):
    code = "task_archived"


class InvalidTaskMoveError(TasksError, RuleViolationError):
    code = "invalid_task_move"


class AssigneeNotMemberError(TasksError, RuleViolationError):
    code = "assignee_not_member"


class ProjectClosedError(TasksError, RuleViolationError):
    code = "project_closed"


class CommentNotFoundError(TasksError, NotFoundError):
    code = "comment_not_found"


class CommentNotYoursError(TasksError, PermissionDeniedError):
    code = "comment_not_yours"
