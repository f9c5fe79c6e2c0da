from __future__ import annotations

import itertools

import pytest

from app.kernel.domain import Actor, InvalidInputError
from app.projects.domain import STATUSES, TRANSITIONS, Project
from app.projects.errors import (
    BudgetRuleError,
    InvalidTransitionError,
    LastManagerError,
    MembershipError,
    ProjectArchivedError,
    ProjectClosedForWorkError,
    ProjectNotFoundError,
    ProjectPermissionError,
)
from app.projects.events import (
    ProjectBudgetChanged,
    ProjectCreated,
    ProjectMemberAdded,
    ProjectSpendRecorded,
    ProjectStatusChanged,
)

TENANT = "00000000-0000-0000-0000-0000000000aa"
OWNER = Actor(TENANT, "00000000-0000-0000-0000-000000000001", "owner")
CREATOR = Actor(TENANT, "00000000-0000-0000-0000-000000000002", "member")
OTHER_MEMBER = Actor(TENANT, "00000000-0000-0000-0000-000000000003", "member")
STRANGER = Actor("00000000-0000-0000-0000-0000000000bb", OWNER.user_id, "owner")

# The whole table from DESIGN.md, spelled out here rather than read from the code under test.
ALLOWED = {
    ("active", "on_hold"),
    ("active", "completed"),
    ("active", "cancelled"),
    ("on_hold", "active"),
    ("on_hold", "cancelled"),
    ("completed", "archived"),
    ("cancelled", "archived"),
}
# The shortest path from a new (active) project to each status.
PATH = {
    "active": [],
    "on_hold": ["on_hold"],
    "completed": ["completed"],
    "cancelled": ["cancelled"],
    "archived": ["completed", "archived"],
}


def new_project(budget: int = 1000, by: Actor = CREATOR) -> Project:
    project = Project.create(
        "p1", tenant_id=TENANT, name="Apollo", description="", budget_cents=budget, by=by
    )
    return committed(project)


def committed(project: Project) -> Project:
    """What a reader sees after the pending events are stored: the replay of the stream."""
    events = list(project.pending)
    previous = getattr(project, "_history", [])
    history = [*previous, *events]
    replayed = Project.replay(project.id, history)
    replayed._history = history  # type: ignore[attr-defined]
    return replayed


def in_status(status: str) -> Project:
    project = new_project()
    for step in PATH[status]:
        project.change_status(step, by=CREATOR)
    return committed(project)


def test_the_transition_table_is_the_one_of_the_design() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == ALLOWED


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED))
def test_an_allowed_status_transition_is_recorded(start: str, target: str) -> None:
    project = in_status(start)
    project.change_status(target, by=CREATOR)
    assert project.pending == [
        ProjectStatusChanged(project_id="p1", from_status=start, to_status=target)
    ]
    assert committed(project).status == target


@pytest.mark.parametrize(
    ("start", "target"),
    sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED),
)
def test_a_status_transition_outside_the_table_is_refused(start: str, target: str) -> None:
    project = in_status(start)
    with pytest.raises(InvalidTransitionError) as refused:
        project.change_status(target, by=CREATOR)
    assert refused.value.context["allowed"] == sorted(b for a, b in ALLOWED if a == start)
    assert project.pending == [] and project.status == start


def test_a_new_project_has_its_creator_as_first_member_and_is_active() -> None:
    project = new_project()
    assert project.status == "active"
    assert project.members == [CREATOR.user_id]
    assert project.version == 2


def test_a_project_cannot_be_created_with_a_negative_budget() -> None:
    with pytest.raises(BudgetRuleError):
        new_project(budget=-1)


def test_the_budget_can_be_raised_and_lowered_down_to_the_spend() -> None:
    project = new_project(budget=1000)
    project.record_spend(400, "", by=CREATOR)
    project.change_budget(400, by=CREATOR)
    assert committed(project).budget_cents == 400


def test_the_budget_can_never_be_negative() -> None:
    project = new_project()
    with pytest.raises(BudgetRuleError) as refused:
        project.change_budget(-1, by=CREATOR)
    assert refused.value.context["field"] == "budget_cents"
    assert project.pending == []


def test_the_budget_can_never_go_below_the_actual_spend() -> None:
    project = new_project(budget=1000)
    project.record_spend(600, "", by=CREATOR)
    project = committed(project)
    with pytest.raises(BudgetRuleError):
        project.change_budget(599, by=CREATOR)
    assert project.pending == [] and project.budget_cents == 1000


def test_setting_the_same_budget_records_nothing() -> None:
    project = new_project(budget=1000)
    project.change_budget(1000, by=CREATOR)
    assert project.pending == []


def test_spend_adds_up_to_exactly_the_budget() -> None:
    project = new_project(budget=1000)
    project.record_spend(999, "a", by=CREATOR)
    project.record_spend(1, "b", by=CREATOR)
    assert project.pending[-1] == ProjectSpendRecorded(
        project_id="p1", amount_cents=1, actual_spend_cents=1000, note="b"
    )
    assert committed(project).actual_spend_cents == 1000


def test_spend_can_never_go_above_the_budget() -> None:
    project = new_project(budget=1000)
    project.record_spend(1000, "", by=CREATOR)
    project = committed(project)
    with pytest.raises(BudgetRuleError):
        project.record_spend(1, "", by=CREATOR)
    assert project.actual_spend_cents == 1000 and project.pending == []


@pytest.mark.parametrize("amount", [0, -5])
def test_spend_must_be_positive(amount: int) -> None:
    project = new_project()
    with pytest.raises(BudgetRuleError):
        project.record_spend(amount, "", by=CREATOR)


def test_the_creator_adds_and_removes_members() -> None:
    project = new_project(by=CREATOR)
    project.add_member(OTHER_MEMBER.user_id, by=CREATOR)
    project = committed(project)
    assert project.members == [CREATOR.user_id, OTHER_MEMBER.user_id]
    project.remove_member(OTHER_MEMBER.user_id, by=CREATOR)
    assert committed(project).members == [CREATOR.user_id]


def test_a_tenant_admin_manages_members_of_a_project_they_did_not_create() -> None:
    project = new_project(by=CREATOR)
    project.add_member(OTHER_MEMBER.user_id, by=OWNER)
    assert project.pending[-1] == ProjectMemberAdded(
        project_id="p1", user_id=OTHER_MEMBER.user_id, role="member"
    )


def test_a_plain_member_cannot_manage_members() -> None:
    project = new_project(by=CREATOR)
    project.add_member(OTHER_MEMBER.user_id, by=CREATOR)
    project = committed(project)
    with pytest.raises(ProjectPermissionError):
        project.add_member("00000000-0000-0000-0000-000000000009", by=OTHER_MEMBER)
    with pytest.raises(ProjectPermissionError):
        project.remove_member(CREATOR.user_id, by=OTHER_MEMBER)
    assert project.pending == []


def test_a_member_cannot_be_added_twice() -> None:
    project = new_project()
    with pytest.raises(MembershipError):
        project.add_member(CREATOR.user_id, by=CREATOR)


def test_removing_someone_who_is_not_a_member_is_refused() -> None:
    project = new_project()
    with pytest.raises(MembershipError):
        project.remove_member(OTHER_MEMBER.user_id, by=CREATOR)


def test_a_removed_member_can_no_longer_read_the_project() -> None:
    project = new_project(by=CREATOR)
    project.add_member(OTHER_MEMBER.user_id, by=CREATOR)
    assert committed(project).can_read(OTHER_MEMBER)
    project.remove_member(OTHER_MEMBER.user_id, by=CREATOR)
    with pytest.raises(ProjectNotFoundError):
        committed(project).check_readable(OTHER_MEMBER)


def test_another_tenant_never_reads_the_project_even_as_owner() -> None:
    project = new_project()
    assert not project.can_read(STRANGER)
    with pytest.raises(ProjectNotFoundError):
        project.check_readable(STRANGER)


def test_a_tenant_admin_reads_every_project_of_the_tenant() -> None:
    assert new_project(by=CREATOR).can_read(OWNER)


def test_an_archived_project_is_final() -> None:
    project = in_status("archived")
    refusals = [
        lambda: project.rename("New", by=CREATOR),
        lambda: project.describe("New", by=CREATOR),
        lambda: project.change_budget(5, by=CREATOR),
        lambda: project.record_spend(1, "", by=CREATOR),
        lambda: project.add_member(OTHER_MEMBER.user_id, by=OWNER),
        lambda: project.remove_member(CREATOR.user_id, by=OWNER),
    ]
    for attempt in refusals:
        with pytest.raises(ProjectArchivedError):
            attempt()
    for status in STATUSES:
        with pytest.raises(InvalidTransitionError):
            project.change_status(status, by=CREATOR)
    assert project.pending == []


def test_renaming_to_the_same_name_records_nothing() -> None:
    project = new_project()
    project.rename("Apollo", by=CREATOR)
    project.describe("", by=CREATOR)
    assert project.pending == []


# -- issue 16: project managers, the last manager, closed projects ------------------------------


def with_member(role: str = "member") -> Project:
    project = new_project(by=CREATOR)
    project.add_member(OTHER_MEMBER.user_id, by=CREATOR, role=role)
    return committed(project)


def test_the_creator_is_the_first_manager() -> None:
    project = new_project(by=CREATOR)
    assert project.managers == {CREATOR.user_id}
    assert project.can_manage(CREATOR) and project.can_manage(OWNER)
    assert not project.can_manage(STRANGER)


def test_a_plain_member_may_not_touch_money_status_or_names() -> None:
    project = with_member()
    for attempt in [
        lambda: project.change_budget(5, by=OTHER_MEMBER),
        lambda: project.record_spend(5, "", by=OTHER_MEMBER),
        lambda: project.change_status("on_hold", by=OTHER_MEMBER),
        lambda: project.rename("Mine", by=OTHER_MEMBER),
        lambda: project.describe("Mine", by=OTHER_MEMBER),
        lambda: project.change_member_role(OTHER_MEMBER.user_id, "manager", by=OTHER_MEMBER),
    ]:
        with pytest.raises(ProjectPermissionError):
            attempt()
    assert project.pending == []


def test_a_member_made_manager_manages_and_a_legacy_creator_still_does() -> None:
    project = with_member()
    project.change_member_role(OTHER_MEMBER.user_id, "manager", by=CREATOR)
    project = committed(project)
    project.change_budget(5_000, by=OTHER_MEMBER)
    assert project.pending[-1] == ProjectBudgetChanged(project_id="p1", budget_cents=5_000)
    # Streams written before roles: the creator's ProjectMemberAdded has no role.
    legacy = Project.replay(
        "p0",
        [
            ProjectCreated(
                project_id="p0",
                tenant_id=TENANT,
                name="Old",
                description="",
                budget_cents=0,
                created_by=CREATOR.user_id,
            ),
            ProjectMemberAdded(project_id="p0", user_id=CREATOR.user_id),
            ProjectMemberAdded(project_id="p0", user_id=OTHER_MEMBER.user_id),
        ],
    )
    assert legacy.managers == {CREATOR.user_id}


def test_the_last_manager_cannot_leave_be_removed_or_step_down() -> None:
    project = with_member()
    for attempt in [
        lambda: project.remove_member(CREATOR.user_id, by=CREATOR),
        lambda: project.remove_member(CREATOR.user_id, by=OWNER),
        lambda: project.change_member_role(CREATOR.user_id, "member", by=CREATOR),
    ]:
        with pytest.raises(LastManagerError):
            attempt()
    assert project.pending == []
    project.remove_member(OTHER_MEMBER.user_id, by=OTHER_MEMBER)  # a plain member may leave
    assert committed(project).members == [CREATOR.user_id]


def test_a_departing_last_manager_hands_the_project_to_who_deactivates_them() -> None:
    project = with_member()
    project.release_departing_user(CREATOR.user_id, by=OWNER)
    project = committed(project)
    assert project.members == [OTHER_MEMBER.user_id, OWNER.user_id]
    assert project.managers == {OWNER.user_id}
    project.release_departing_user(CREATOR.user_id, by=OWNER)  # no longer a member: nothing
    assert project.pending == []


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_a_closed_project_takes_money_and_departures_but_no_work_or_newcomers(
    status: str,
) -> None:
    project = committed(_member_then(status))
    assert not project.accepts_work
    with pytest.raises(ProjectClosedForWorkError):
        project.add_member("00000000-0000-0000-0000-000000000009", by=OWNER)
    project.record_spend(10, "late invoice", by=CREATOR)
    project.change_budget(2_000, by=CREATOR)
    project.remove_member(OTHER_MEMBER.user_id, by=CREATOR)
    assert [type(e).__name__ for e in project.pending] == [
        "ProjectSpendRecorded",
        "ProjectBudgetChanged",
        "ProjectMemberRemoved",
    ]


def _member_then(status: str) -> Project:
    project = with_member()
    project.change_status(status, by=CREATOR)
    return project


def test_an_unknown_project_role_is_invalid_input() -> None:
    project = new_project()
    with pytest.raises(InvalidInputError):
        project.add_member(OTHER_MEMBER.user_id, by=CREATOR, role="boss")
