"""The Task aggregate: its board status, its assignee (a project member), archiving."""

from __future__ import annotations

from app.kernel.domain import Aggregate
from app.tasks.errors import AssigneeNotMemberError, InvalidTaskMoveError, TaskArchivedError
from app.tasks.events import (
    TaskArchived,
    TaskAssigned,
    TaskCreated,
    TaskEdited,
    TaskMoved,
    TaskUnassigned,
)

TASK_STATUSES = ("todo", "in_progress", "done")

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
