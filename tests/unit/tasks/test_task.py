from __future__ import annotations

import itertools

import pytest

from app.kernel.domain import Event
from app.tasks.domain import TASK_STATUSES, Task
from app.tasks.errors import AssigneeNotMemberError, InvalidTaskMoveError, TaskArchivedError
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
