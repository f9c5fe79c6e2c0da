from __future__ import annotations

from typing import Any

import pytest

from app.kernel.domain import Actor, InvalidInputError
from app.tenants.domain import Plan, Tenant, User, find_plan, plan_catalog
from app.tenants.errors import (
    MemberLimitReachedError,
    NotAllowedError,
    PlanBelowUsageError,
    ProjectLimitReachedError,
    UserRuleError,
)
from app.tenants.events import TenantPlanChanged, TenantProjectAdded, UserRoleChanged

TENANT = "00000000-0000-0000-0000-0000000000aa"
OWNER = Actor(TENANT, "00000000-0000-0000-0000-000000000001", "owner")
ADMIN = Actor(TENANT, "00000000-0000-0000-0000-000000000002", "admin")
MEMBER = Actor(TENANT, "00000000-0000-0000-0000-000000000003", "member")


def registered(limit: int) -> list[Any]:
    return list(Tenant.register(TENANT, "Acme", Plan("free", limit, 10), OWNER.user_id).pending)


def tenant(limit: int) -> Tenant:
    return Tenant.replay(TENANT, registered(limit))


def user(actor: Actor) -> User:
    registered = User.register(
        actor.user_id,
        tenant_id=TENANT,
        email=f"{actor.role}@example.com",
        name=actor.role,
        role=actor.role,
        invited_by=None,
    )
    return User.replay(actor.user_id, registered.pending)


def test_a_tenant_takes_project_slots_up_to_its_limit_and_then_refuses() -> None:
    acme = tenant(limit=2)
    acme.take_project_slot("p1")
    acme.take_project_slot("p2")
    with pytest.raises(ProjectLimitReachedError) as refused:
        acme.take_project_slot("p3")
    assert refused.value.context["limit"] == 2
    assert acme.pending == [
        TenantProjectAdded(tenant_id=TENANT, project_id="p1"),
        TenantProjectAdded(tenant_id=TENANT, project_id="p2"),
    ]


def test_a_tenant_with_no_project_slots_refuses_the_first_project() -> None:
    with pytest.raises(ProjectLimitReachedError):
        tenant(limit=0).take_project_slot("p1")


@pytest.mark.parametrize("inviter", [OWNER, ADMIN])
def test_owners_and_admins_invite_members_and_admins(inviter: Actor) -> None:
    for role in ("member", "admin"):
        invited = User.register(
            "u9", tenant_id=TENANT, email="x@example.com", name="X", role=role, invited_by=inviter
        )
        assert invited.role == role


def test_a_member_cannot_invite_anyone() -> None:
    with pytest.raises(NotAllowedError):
        User.register(
            "u9",
            tenant_id=TENANT,
            email="x@example.com",
            name="X",
            role="member",
            invited_by=MEMBER,
        )


def test_only_an_owner_makes_another_owner() -> None:
    with pytest.raises(NotAllowedError):
        User.register(
            "u9", tenant_id=TENANT, email="x@example.com", name="X", role="owner", invited_by=ADMIN
        )
    made = User.register(
        "u9", tenant_id=TENANT, email="x@example.com", name="X", role="owner", invited_by=OWNER
    )
    assert made.role == "owner"


def test_an_unknown_role_is_invalid_input_on_the_role_field() -> None:
    with pytest.raises(InvalidInputError) as refused:
        User.register(
            "u9", tenant_id=TENANT, email="x@example.com", name="X", role="god", invited_by=OWNER
        )
    assert refused.value.field == "role"


def test_an_admin_changes_a_members_role_but_not_an_owners() -> None:
    member = user(MEMBER)
    member.change_role("admin", by=ADMIN)
    assert member.pending == [UserRoleChanged(user_id=MEMBER.user_id, role="admin")]
    with pytest.raises(NotAllowedError):
        user(OWNER).change_role("member", by=ADMIN)
    with pytest.raises(NotAllowedError):
        user(MEMBER).change_role("owner", by=ADMIN)


def test_a_member_changes_nobodys_role() -> None:
    with pytest.raises(NotAllowedError):
        user(ADMIN).change_role("member", by=MEMBER)


def test_nobody_changes_their_own_role() -> None:
    with pytest.raises(UserRuleError):
        user(OWNER).change_role("admin", by=OWNER)


def test_users_rename_themselves_and_admins_rename_anyone_but_members_do_not() -> None:
    member = user(MEMBER)
    member.rename("Me", by=MEMBER)
    member.rename("Renamed", by=ADMIN)
    assert member.name == "Renamed"
    with pytest.raises(NotAllowedError):
        user(ADMIN).rename("Nope", by=MEMBER)


def test_deactivation_is_for_admins_and_never_of_oneself_or_of_an_owner_by_an_admin() -> None:
    with pytest.raises(NotAllowedError):
        user(ADMIN).deactivate(by=MEMBER)
    with pytest.raises(NotAllowedError):
        user(OWNER).deactivate(by=ADMIN)
    with pytest.raises(UserRuleError):
        user(ADMIN).deactivate(by=ADMIN)
    member = user(MEMBER)
    member.deactivate(by=ADMIN)
    assert not member.active


def test_a_deactivated_user_changes_no_more() -> None:
    member = user(MEMBER)
    member.deactivate(by=OWNER)
    with pytest.raises(UserRuleError):
        member.rename("X", by=OWNER)
    with pytest.raises(UserRuleError):
        member.change_role("admin", by=OWNER)
    with pytest.raises(UserRuleError):
        member.deactivate(by=OWNER)


# -- issue 16: plans ----------------------------------------------------------------------------

TEAM = Plan("team", 5, 4)


def test_archiving_gives_a_project_slot_back() -> None:
    acme = tenant(limit=1)
    acme.take_project_slot("p1")
    acme.release_project_slot("p1")
    acme.take_project_slot("p2")
    assert acme.project_count == 1


def test_only_the_owner_changes_the_plan_and_the_event_carries_its_limits() -> None:
    acme = tenant(limit=1)
    with pytest.raises(NotAllowedError):
        acme.change_plan(TEAM, by=ADMIN, members_in_use=1)
    acme.change_plan(TEAM, by=OWNER, members_in_use=1)
    assert acme.pending == [
        TenantPlanChanged(
            tenant_id=TENANT, from_plan="free", plan="team", project_limit=5, member_limit=4
        )
    ]
    acme = Tenant.replay(TENANT, [*registered(limit=1), *acme.pending])
    assert (acme.plan, acme.project_limit, acme.member_limit) == ("team", 5, 4)


@pytest.mark.parametrize(("projects", "members"), [(6, 1), (1, 5)])
def test_a_plan_below_what_is_in_use_is_refused(projects: int, members: int) -> None:
    acme = tenant(limit=10)
    for n in range(projects):
        acme.take_project_slot(f"p{n}")
    acme.pending.clear()
    with pytest.raises(PlanBelowUsageError) as refused:
        acme.change_plan(TEAM, by=OWNER, members_in_use=members)
    assert refused.value.context["field"] == "plan"
    assert acme.pending == []


def test_the_member_limit_refuses_one_more_user() -> None:
    acme = tenant(limit=1)
    acme.check_seat(9)
    with pytest.raises(MemberLimitReachedError):
        acme.check_seat(10)


def test_the_default_plan_takes_its_limits_from_the_settings() -> None:
    plans = plan_catalog(default_project_limit=7, default_member_limit=3)
    assert list(plans) == ["free", "team", "business"]
    assert plans["free"] == Plan("free", 7, 3)
    with pytest.raises(InvalidInputError):
        find_plan(plans, "gold")
