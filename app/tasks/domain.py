"""The Task aggregate: its board status, its assignee (a project member), its due date and
priority, its comments, archiving."""

from __future__ import annotations

from datetime import UTC, datetime

from app.kernel.domain import Aggregate, InvalidInputError
from app.tasks.errors import (
    AssigneeNotMemberError,
    CommentNotFoundError,
    CommentNotYoursError,
    InvalidTaskMoveError,
    TaskArchivedError,
)
from app.tasks.events import (
    TaskArchived,
    TaskAssigned,
    TaskCommentAdded,
    TaskCommentDeleted,
    TaskCommentEdited,
    TaskCreated,
    TaskDueDateChanged,
    TaskEdited,
    TaskMoved,
    TaskPriorityChanged,
    TaskUnassigned,
)

TASK_STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_PRIORITY = "normal"
# Due dates outside these years are typing mistakes, not plans (and keep sorting sane).
DUE_YEARS = (2000, 2199)
COMMENT_MAX = 5000


def due_at_text(due_at: datetime) -> str:
    """A due date as the events keep it: RFC 3339 in UTC. Naive times are refused: a due date
    without a timezone means a different instant for every reader."""
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise InvalidInputError("due_at must carry a timezone (e.g. Z or +01:00)", field="due_at")
    # The local year first: converting a time at the calendar's ends to UTC would overflow.
    if not DUE_YEARS[0] <= due_at.year <= DUE_YEARS[1] or not (
        DUE_YEARS[0] <= due_at.astimezone(UTC).year <= DUE_YEARS[1]
    ):
        raise InvalidInputError(
            f"due_at must fall between the years {DUE_YEARS[0]} and {DUE_YEARS[1]}",
            field="due_at",
        )
    return due_at.astimezone(UTC).isoformat()


# Forward along the board, back one step, and reopening a done task.
MOVES: dict[str, frozenset[str]] = {
    "todo": frozenset({"in_progress", "done"}),
    "in_progress": frozenset({"todo", "done"}),
    "done": frozenset({"todo", "in_progress"}),
}


class Task(Aggregate):
    stream_prefix = "task"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.project_id = ""
        self.title = ""
        self.description = ""
        self.status = "todo"
        self.assignee_id: str | None = None
        self.archived = False
        self.created_by = ""
        self.due_at: str | None = None
        self.priority = DEFAULT_PRIORITY
        # comment id -> author id, for the comments not deleted.
        self.comments: dict[str, str] = {}

    @classmethod
    def create(
        cls, task_id: str, *, project_id: str, title: str, description: str, created_by: str
    ) -> Task:
        task = cls(task_id)
        task.record(
            TaskCreated(
                task_id=task_id,
                project_id=project_id,
                title=title,
                description=description,
                created_by=created_by,
            )
        )
        return task

    def _check_open(self) -> None:
        if self.archived:
            raise TaskArchivedError("an archived task cannot change", task_id=self.id)

    def edit(self, *, title: str | None, description: str | None) -> None:
        self._check_open()
        new_title = self.title if title is None else title
        new_description = self.description if description is None else description
        if (new_title, new_description) != (self.title, self.description):
            self.record(
                TaskEdited(
                    task_id=self.id,
                    project_id=self.project_id,
                    title=new_title,
                    description=new_description,
                )
            )

    def schedule(self, *, due_at: datetime | None, priority: str | None) -> None:
        """Set (or, with due_at None, clear) the due date; priority None leaves it."""
        self._check_open()
        self._set_due(None if due_at is None else due_at_text(due_at))
        if priority is not None:
            self.prioritize(priority)

    def _set_due(self, due_at: str | None) -> None:
        if due_at != self.due_at:
            self.record(
                TaskDueDateChanged(task_id=self.id, project_id=self.project_id, due_at=due_at)
            )

    def prioritize(self, priority: str) -> None:
        self._check_open()
        if priority not in PRIORITIES:
            raise InvalidInputError(
                f"priority must be one of {', '.join(PRIORITIES)}", field="priority"
            )
        if priority != self.priority:
            self.record(
                TaskPriorityChanged(task_id=self.id, project_id=self.project_id, priority=priority)
            )

    def add_comment(self, comment_id: str, *, author_id: str, body: str) -> None:
        self._check_open()
        self.record(
            TaskCommentAdded(
                task_id=self.id,
                project_id=self.project_id,
                comment_id=comment_id,
                author_id=author_id,
                body=_comment_body(body),
            )
        )

    def edit_comment(self, comment_id: str, *, by: str, body: str) -> None:
        """Only the author edits a comment."""
        self._check_open()
        self._own_comment(comment_id, by)
        self.record(
            TaskCommentEdited(
                task_id=self.id,
                project_id=self.project_id,
                comment_id=comment_id,
                body=_comment_body(body),
            )
        )

    def delete_comment(self, comment_id: str, *, by: str) -> None:
        """Only the author deletes a comment."""
        self._check_open()
        self._own_comment(comment_id, by)
        self.record(
            TaskCommentDeleted(task_id=self.id, project_id=self.project_id, comment_id=comment_id)
        )

    def _own_comment(self, comment_id: str, user_id: str) -> None:
        author = self.comments.get(comment_id)
        if author is None:
            raise CommentNotFoundError(
                f"comment {comment_id} not found", task_id=self.id, comment_id=comment_id
            )
        if author != user_id:
            raise CommentNotYoursError(
                "only its author may change or delete a comment",
                task_id=self.id,
                comment_id=comment_id,
            )

    def assign(self, assignee_id: str | None, *, project_members: list[str]) -> None:
        """Assign to a member of the task's project, or unassign with None."""
        self._check_open()
        if assignee_id == self.assignee_id:
            return
        if assignee_id is None:
            previous = self.assignee_id or ""
            self.record(
                TaskUnassigned(
                    task_id=self.id, project_id=self.project_id, previous_assignee_id=previous
                )
            )
            return
        if assignee_id not in project_members:
            raise AssigneeNotMemberError(
                "the assignee must be a member of the task's project",
                field="assignee_id",
                assignee_id=assignee_id,
            )
        self.record(
            TaskAssigned(task_id=self.id, project_id=self.project_id, assignee_id=assignee_id)
        )

    def release_assignee(self, user_id: str) -> bool:
        """The user left the project (or the tenant): drop them as assignee, even where the
        project is closed for work; an archived task keeps its last assignee as history."""
        if self.archived or self.assignee_id != user_id:
            return False
        self.record(
            TaskUnassigned(
                task_id=self.id, project_id=self.project_id, previous_assignee_id=user_id
            )
        )
        return True

    def move(self, to_status: str) -> None:
        self._check_open()
        if to_status not in MOVES[self.status]:
            raise InvalidTaskMoveError(
                f"cannot move a task from {self.status} to {to_status}",
                field="status",
                from_status=self.status,
            )
        self.record(
            TaskMoved(
                task_id=self.id,
                project_id=self.project_id,
                from_status=self.status,
                to_status=to_status,
            )
        )

    def archive(self) -> None:
        self._check_open()
        self.record(TaskArchived(task_id=self.id, project_id=self.project_id))

    def on_task_created(self, event: TaskCreated) -> None:
        self.project_id = event.project_id
        self.title = event.title
        self.description = event.description
        self.created_by = event.created_by

    def on_task_edited(self, event: TaskEdited) -> None:
        self.title = event.title
        self.description = event.description

    def on_task_assigned(self, event: TaskAssigned) -> None:
        self.assignee_id = event.assignee_id

    def on_task_unassigned(self, event: TaskUnassigned) -> None:
        self.assignee_id = None

    def on_task_moved(self, event: TaskMoved) -> None:
        self.status = event.to_status

    def on_task_archived(self, event: TaskArchived) -> None:
        self.archived = True

    def on_task_due_date_changed(self, event: TaskDueDateChanged) -> None:
        self.due_at = event.due_at

    def on_task_priority_changed(self, event: TaskPriorityChanged) -> None:
        self.priority = event.priority

    def on_task_comment_added(self, event: TaskCommentAdded) -> None:
        self.comments[event.comment_id] = event.author_id

    def on_task_comment_edited(self, event: TaskCommentEdited) -> None:
        pass  # the text is the read model's; the aggregate guards only who may change it

    def on_task_comment_deleted(self, event: TaskCommentDeleted) -> None:
        self.comments.pop(event.comment_id, None)


def _comment_body(body: str) -> str:
    text = body.strip()
    if not 1 <= len(text) <= COMMENT_MAX:
        raise InvalidInputError(
            f"a comment has 1 to {COMMENT_MAX} characters (not only spaces)", field="body"
        )
    return text
