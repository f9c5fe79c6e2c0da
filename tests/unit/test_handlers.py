"""The real handlers driven through the message bus over in-memory adapters."""

from __future__ import annotations

import pytest

from app.kernel.domain import Actor, ConcurrencyError, StaleVersionError
from app.kernel.messagebus import Idempotency, IdempotencyMismatchError, MessageBus
from app.projects import commands as pc
from app.projects.errors import BudgetRuleError, ProjectNotFoundError
from app.tasks import commands as tc
from app.tasks.errors import AssigneeNotMemberError, ProjectClosedError, TaskNotFoundError
from app.tenants import commands as uc
from app.tenants.errors import EmailTakenError, ProjectLimitReachedError, UserNotFoundError
from tests.unit.fakes import FakeDatabase, fake_bus


async def signed_up(bus: MessageBus, email: str = "owner@example.com") -> Actor:
    _, body = await bus.handle(uc.SignUp("Acme", "Olive", email, "correct horse"))
    return Actor(body["tenant_id"], body["user_id"], "owner")


async def invited(bus: MessageBus, owner: Actor, email: str, role: str = "member") -> Actor:
    _, body = await bus.handle(uc.InviteUser(owner, email, "Mo", role, "correct horse"))
    return Actor(owner.tenant_id, body["id"], role)


async def project(bus: MessageBus, owner: Actor, budget: int = 1000) -> str:
    _, body = await bus.handle(pc.CreateProject(owner, "Apollo", "", budget))
    return str(body["id"])


def stream(db: FakeDatabase, prefix: str, aggregate_id: str) -> list[str]:
    return [e.type for e in db.events.events if e.stream_id == f"{prefix}-{aggregate_id}"]


async def test_sign_up_stores_the_tenant_and_its_owner() -> None:
    db = FakeDatabase()
    owner = await signed_up(fake_bus(db))
    assert stream(db, "tenant", owner.tenant_id) == ["TenantRegistered"]
    assert stream(db, "user", owner.user_id) == ["UserRegistered"]
    assert db.users[owner.user_id].role == "owner"


async def test_signing_up_twice_with_one_email_is_refused_and_writes_nothing() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    await signed_up(bus)
    before = len(db.events.events)
    with pytest.raises(EmailTakenError):
        await signed_up(bus, email="owner@example.com")
    assert len(db.events.events) == before and len(db.users) == 1


async def test_creating_a_project_past_the_tenant_limit_is_refused() -> None:
    db = FakeDatabase()
    bus = fake_bus(db, project_limit=2)
    owner = await signed_up(bus)
    await project(bus, owner)
    await project(bus, owner)
    before = len(db.events.events)
    with pytest.raises(ProjectLimitReachedError):
        await project(bus, owner)
    assert len(db.events.events) == before
    assert stream(db, "tenant", owner.tenant_id).count("TenantProjectAdded") == 2


async def test_a_mutation_answers_the_new_version_and_the_position_written() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner)
    _, body = await bus.handle(pc.RecordProjectSpend(owner, project_id, 300))
    assert body == {"id": project_id, "version": 3, "position": db.events.events[-1].position}


async def test_spend_above_the_budget_is_refused_and_writes_nothing() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner, budget=100)
    with pytest.raises(BudgetRuleError):
        await bus.handle(pc.RecordProjectSpend(owner, project_id, 101))
    assert stream(db, "project", project_id) == ["ProjectCreated", "ProjectMemberAdded"]


async def test_a_stale_expected_version_is_refused_with_the_current_one() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner)
    with pytest.raises(StaleVersionError) as refused:
        await bus.handle(pc.UpdateProject(owner, project_id, name="B", expected_version=1))
    assert refused.value.current == 2


async def test_a_project_of_another_tenant_is_not_found() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    stranger = await signed_up(bus, email="stranger@example.com")
    project_id = await project(bus, owner)
    with pytest.raises(ProjectNotFoundError):
        await bus.handle(pc.ChangeProjectStatus(stranger, project_id, "on_hold"))
    with pytest.raises(ProjectNotFoundError):
        await bus.handle(tc.CreateTask(stranger, project_id, "Spy"))


async def test_adding_a_user_of_another_tenant_as_member_is_refused_as_not_found() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    stranger = await signed_up(bus, email="stranger@example.com")
    project_id = await project(bus, owner)
    with pytest.raises(UserNotFoundError):
        await bus.handle(pc.AddProjectMember(owner, project_id, stranger.user_id))


async def test_a_task_is_assigned_only_to_a_member_of_its_project() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    mo = await invited(bus, owner, "mo@example.com")
    project_id = await project(bus, owner)
    _, task = await bus.handle(tc.CreateTask(owner, project_id, "Design"))
    with pytest.raises(AssigneeNotMemberError):
        await bus.handle(tc.AssignTask(owner, task["id"], mo.user_id))
    await bus.handle(pc.AddProjectMember(owner, project_id, mo.user_id))
    _, assigned = await bus.handle(tc.AssignTask(owner, task["id"], mo.user_id))
    assert assigned["version"] == 2
    assert stream(db, "task", task["id"]) == ["TaskCreated", "TaskAssigned"]


async def test_a_non_member_of_the_project_does_not_find_its_tasks() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    mo = await invited(bus, owner, "mo@example.com")
    project_id = await project(bus, owner)
    _, task = await bus.handle(tc.CreateTask(owner, project_id, "Design"))
    with pytest.raises(TaskNotFoundError):
        await bus.handle(tc.MoveTask(mo, task["id"], "done"))


async def test_tasks_of_an_archived_project_change_no_more() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner)
    _, task = await bus.handle(tc.CreateTask(owner, project_id, "Design"))
    await bus.handle(pc.ChangeProjectStatus(owner, project_id, "completed"))
    await bus.handle(pc.ChangeProjectStatus(owner, project_id, "archived"))
    with pytest.raises(ProjectClosedError):
        await bus.handle(tc.MoveTask(owner, task["id"], "done"))
    with pytest.raises(ProjectClosedError):
        await bus.handle(tc.CreateTask(owner, project_id, "Late"))


async def test_an_idempotent_replay_answers_the_first_result_and_writes_nothing() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    key = Idempotency(owner.tenant_id, owner.user_id, "k1", "hash-a", 201)
    first = await bus.handle(pc.CreateProject(owner, "Apollo"), idempotency=key)
    count = len(db.events.events)
    again = await bus.handle(pc.CreateProject(owner, "Apollo"), idempotency=key)
    assert first == (None, again[1]) and again[0] == 201
    assert len(db.events.events) == count


async def test_an_idempotency_key_reused_for_another_request_is_refused() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    await bus.handle(
        pc.CreateProject(owner, "Apollo"),
        idempotency=Idempotency(owner.tenant_id, owner.user_id, "k1", "hash-a", 201),
    )
    count = len(db.events.events)
    with pytest.raises(IdempotencyMismatchError):
        await bus.handle(
            pc.CreateProject(owner, "Other"),
            idempotency=Idempotency(owner.tenant_id, owner.user_id, "k1", "hash-b", 201),
        )
    assert len(db.events.events) == count


async def test_a_lost_race_is_retried_and_the_rules_are_checked_again() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner, budget=100)

    async def another_writer() -> None:
        await bus.handle(pc.RecordProjectSpend(owner, project_id, 60))

    # Our spend of 50 is checked against 0 spent, loses the race, is re-read and then refused.
    db.events.before_next_append = another_writer
    with pytest.raises(BudgetRuleError):
        await bus.handle(pc.RecordProjectSpend(owner, project_id, 50))
    spends = [e.data for e in db.events.events if e.type == "ProjectSpendRecorded"]
    assert [s["amount_cents"] for s in spends] == [60]


async def test_a_lost_race_with_an_expected_version_is_not_retried() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner, budget=100)

    async def another_writer() -> None:
        await bus.handle(pc.RecordProjectSpend(owner, project_id, 10))

    db.events.before_next_append = another_writer
    with pytest.raises(ConcurrencyError):
        await bus.handle(
            pc.RecordProjectSpend(owner, project_id, 20, expected_version=2), retry=False
        )
    assert stream(db, "project", project_id)[-1] == "ProjectSpendRecorded"
    assert len(stream(db, "project", project_id)) == 3


async def test_a_retried_command_that_wins_the_second_time_writes_once() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    project_id = await project(bus, owner, budget=100)

    async def another_writer() -> None:
        await bus.handle(pc.RecordProjectSpend(owner, project_id, 10))

    db.events.before_next_append = another_writer
    _, body = await bus.handle(pc.RecordProjectSpend(owner, project_id, 20))
    spends = [
        e.data["actual_spend_cents"] for e in db.events.events if e.type == "ProjectSpendRecorded"
    ]
    assert spends == [10, 30] and body["version"] == 4


async def test_an_assignment_that_loses_to_the_assignees_removal_is_refused_on_retry() -> None:
    db = FakeDatabase()
    bus = fake_bus(db)
    owner = await signed_up(bus)
    mo = await invited(bus, owner, "mo@example.com")
    project_id = await project(bus, owner)
    await bus.handle(pc.AddProjectMember(owner, project_id, mo.user_id))
    _, task = await bus.handle(tc.CreateTask(owner, project_id, "Design"))

    async def removal() -> None:
        await bus.handle(pc.RemoveProjectMember(owner, project_id, mo.user_id))

    # The assignment saw Mo as a member; the removal commits before it (writing no task event).
    db.events.before_next_append = removal
    with pytest.raises(AssigneeNotMemberError):
        await bus.handle(tc.AssignTask(owner, task["id"], mo.user_id))
    assert stream(db, "task", task["id"]) == ["TaskCreated"]
