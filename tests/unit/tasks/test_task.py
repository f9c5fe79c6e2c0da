from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.kernel.domain import Event, InvalidInputError
from app.tasks.domain import TASK_STATUSES, Task
from app.tasks.errors import (
    AssigneeNotMemberError,
    CommentNotFoundError,
    CommentNotYoursError,
    InvalidTaskMoveError,
    TaskArchivedError,
)
from app.tasks.events import TaskAssigned, TaskEdited, TaskMoved, TaskUnassigned

ALICE = "00000000-0000-0000-0000-000000000001"
BOB = "00000000-0000-0000-0000-000000000002"
MEMBERS = [ALICE, BOB]
ALLOWED_MOVES = {
    ("todo", "in_progress"),
    ("todo", "done"),
    ("in_progress", "todo"),
    ("in_progress", "done"),
    ("done", "todo"),
    ("done", "in_progress"),
}


def created() -> list[Event]:
    task = Task.create("t1", project_id="p1", title="Design", description="", created_by=ALICE)
    return list(task.pending)


def new_task() -> Task:
    return Task.replay("t1", created())


def task_in(status: str) -> Task:
    """A stored task in `status`, rebuilt by replay as a handler would load it."""
    task = new_task()
    if status != "todo":
        task.move(status)
    return Task.replay("t1", [*created(), *task.pending])


def test_a_new_task_is_todo_unassigned_and_open() -> None:
    task = new_task()
    assert (task.status, task.assignee_id, task.archived, task.version) == ("todo", None, False, 1)


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED_MOVES))
def test_a_task_moves_along_the_board_and_back(start: str, target: str) -> None:
    task = task_in(start)
    task.move(target)
    assert task.pending == [
        TaskMoved(task_id="t1", project_id="p1", from_status=start, to_status=target)
    ]
    assert task.status == target


@pytest.mark.parametrize("status", TASK_STATUSES)
def test_moving_a_task_to_the_status_it_has_is_refused(status: str) -> None:
    task = task_in(status)
    with pytest.raises(InvalidTaskMoveError):
        task.move(status)
    assert task.pending == []


def test_every_pair_of_distinct_statuses_is_a_legal_move() -> None:
    distinct = {(a, b) for a, b in itertools.product(TASK_STATUSES, TASK_STATUSES) if a != b}
    assert distinct == ALLOWED_MOVES


def test_a_done_task_can_be_reopened() -> None:
    task = task_in("done")
    task.move("todo")
    assert task.status == "todo"


def test_a_task_is_assigned_only_to_a_member_of_its_project() -> None:
    task = new_task()
    task.assign(BOB, project_members=MEMBERS)
    assert task.pending == [TaskAssigned(task_id="t1", project_id="p1", assignee_id=BOB)]
    with pytest.raises(AssigneeNotMemberError) as refused:
        task.assign("00000000-0000-0000-0000-000000000099", project_members=MEMBERS)
    assert refused.value.context["field"] == "assignee_id"
    assert task.assignee_id == BOB


def test_unassigning_records_the_previous_assignee() -> None:
    task = new_task()
    task.assign(BOB, project_members=MEMBERS)
    task.assign(None, project_members=MEMBERS)
    assert task.pending[-1] == TaskUnassigned(
        task_id="t1", project_id="p1", previous_assignee_id=BOB
    )
    assert task.assignee_id is None


def test_assigning_the_current_assignee_again_records_nothing() -> None:
    task = new_task()
    task.assign(None, project_members=MEMBERS)
    assert task.pending == []


def test_editing_records_the_full_new_title_and_description() -> None:
    task = new_task()
    task.edit(title=None, description="Details")
    assert task.pending == [
        TaskEdited(task_id="t1", project_id="p1", title="Design", description="Details")
    ]


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    task = new_task()
    task.edit(title="Design", description=None)
    assert task.pending == []


def test_an_archived_task_changes_no_more() -> None:
    task = new_task()
    task.archive()
    assert task.archived
    for attempt in (
        lambda: task.move("done"),
        lambda: task.edit(title="x", description=None),
        lambda: task.assign(ALICE, project_members=MEMBERS),
        task.archive,
    ):
        with pytest.raises(TaskArchivedError):
            attempt()
    assert len(task.pending) == 1


def test_a_due_date_needs_a_timezone_and_a_sane_year_and_is_kept_in_utc() -> None:
    task = new_task()
    for bad in (datetime(2026, 12, 24, 17), datetime(1999, 12, 31, tzinfo=UTC)):
        with pytest.raises(InvalidInputError):
            task.schedule(due_at=bad, priority=None)
    assert task.pending == []
    task.schedule(
        due_at=datetime(2026, 12, 24, 18, tzinfo=timezone(timedelta(hours=1))), priority="high"
    )
    assert task.due_at == "2026-12-24T17:00:00+00:00" and task.priority == "high"
    assert [e.type for e in task.pending] == ["TaskDueDateChanged", "TaskPriorityChanged"]
    # The same again records nothing; None clears it.
    task.pending.clear()
    task.schedule(due_at=datetime(2026, 12, 24, 17, tzinfo=UTC), priority="high")
    assert task.pending == []
    task.schedule(due_at=None, priority=None)
    assert task.due_at is None and len(task.pending) == 1
    with pytest.raises(InvalidInputError):
        task.prioritize("critical")


def test_only_the_author_edits_or_deletes_a_comment() -> None:
    task = new_task()
    task.add_comment("c1", author_id=ALICE, body="  hello  ")
    assert task.pending[-1].body == "hello"  # type: ignore[attr-defined]
    with pytest.raises(CommentNotYoursError):
        task.edit_comment("c1", by=BOB, body="mine")
    with pytest.raises(CommentNotYoursError):
        task.delete_comment("c1", by=BOB)
    with pytest.raises(InvalidInputError):
        task.add_comment("c2", author_id=BOB, body="   ")
    task.edit_comment("c1", by=ALICE, body="hello again")
    task.delete_comment("c1", by=ALICE)
    with pytest.raises(CommentNotFoundError):
        task.delete_comment("c1", by=ALICE)
    replayed = Task.replay("t1", [*created(), *task.pending])
    assert replayed.comments == {}
    task.archive()
    with pytest.raises(TaskArchivedError):
        task.add_comment("c3", author_id=ALICE, body="late")
