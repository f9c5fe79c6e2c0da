"""Tenant and User aggregates: plans, roles and who may manage whom."""

from __future__ import annotations

import dataclasses

from app.kernel.domain import ROLES, Actor, Aggregate, InvalidInputError
from app.tenants.errors import (
    MemberLimitReachedError,
    NotAllowedError,
    PlanBelowUsageError,
    ProjectLimitReachedError,
    UserRuleError,
)
from app.tenants.events import (
    TenantPlanChanged,
    TenantProjectAdded,
    TenantProjectReleased,
    TenantRegistered,
    UserDeactivated,
    UserRegistered,
    UserRenamed,
    UserRoleChanged,
)

# -- plans (the course's Billing module) ----------------------------------------------------
# The free plan is every new tenant's, with the limits the settings give it (`PROJECT_LIMIT`,
# `MEMBER_LIMIT`); the paid plans' limits are fixed here. A limit counts what is in use:
# projects not archived, users not deactivated.

PLAN_NAMES = ("free", "team", "business")
DEFAULT_PLAN = "free"


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    name: str
    project_limit: int
    member_limit: int


def plan_catalog(*, default_project_limit: int, default_member_limit: int) -> dict[str, Plan]:
    """Every plan by name, in PLAN_NAMES order; the default plan's limits come from settings."""
    return {
        "free": Plan("free", default_project_limit, default_member_limit),
        "team": Plan("team", 1_000, 500),
        "business": Plan("business", 10_000, 5_000),
    }


def find_plan(catalog: dict[str, Plan], name: str) -> Plan:
    try:
        return catalog[name]
    except KeyError:
        raise InvalidInputError(
            f"plan must be one of {', '.join(catalog)}", field="plan", plan=name
        ) from None


class Tenant(Aggregate):
    stream_prefix = "tenant"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""
        self.owner_id = ""
        self.plan = "free"
        self.project_limit = 0
        # None: a tenant registered before plans had no member limit.
        self.member_limit: int | None = None
        # Projects in use: created and not archived.
        self.project_count = 0

    @classmethod
    def register(cls, tenant_id: str, name: str, plan: Plan, owner_id: str) -> Tenant:
        tenant = cls(tenant_id)
        tenant.record(
            TenantRegistered(
                tenant_id=tenant_id,
                name=name,
                project_limit=plan.project_limit,
                owner_id=owner_id,
                plan=plan.name,
                member_limit=plan.member_limit,
            )
        )
        return tenant

    def change_plan(self, plan: Plan, *, by: Actor, members_in_use: int) -> None:
        """The owner moves the tenant to another plan; never below what it uses now."""
        if by.tenant_id != self.id or by.role != "owner":
            raise NotAllowedError("only the tenant's owner changes its plan", tenant_id=self.id)
        over = []
        if self.project_count > plan.project_limit:
            over.append(f"{self.project_count} projects in use (archive some first)")
        if members_in_use > plan.member_limit:
            over.append(f"{members_in_use} active users (deactivate some first)")
        if over:
            raise PlanBelowUsageError(
                f"the {plan.name} plan allows {plan.project_limit} projects and"
                f" {plan.member_limit} users; the tenant has {' and '.join(over)}",
                field="plan",
                plan=plan.name,
                projects_in_use=self.project_count,
                members_in_use=members_in_use,
            )
        if (plan.name, plan.project_limit, plan.member_limit) != (
            self.plan,
            self.project_limit,
            self.member_limit,
        ):
            self.record(
                TenantPlanChanged(
                    tenant_id=self.id,
                    from_plan=self.plan,
                    plan=plan.name,
                    project_limit=plan.project_limit,
                    member_limit=plan.member_limit,
                )
            )

    def check_seat(self, members_in_use: int) -> None:
        """Refuse one more user once the plan's member limit is used up."""
        if self.member_limit is not None and members_in_use >= self.member_limit:
            raise MemberLimitReachedError(
                f"the {self.plan} plan allows {self.member_limit} users",
                tenant_id=self.id,
                limit=self.member_limit,
            )

    def release_project_slot(self, project_id: str) -> None:
        """An archived project no longer counts against the plan."""
        self.record(TenantProjectReleased(tenant_id=self.id, project_id=project_id))

    def take_project_slot(self, project_id: str) -> None:
        """Refuse a new project once the plan's limit is used up."""
        if self.project_count >= self.project_limit:
            raise ProjectLimitReachedError(
                f"the {self.plan} plan allows {self.project_limit} projects in use;"
                " archive one or change the plan",
                tenant_id=self.id,
                limit=self.project_limit,
            )
        self.record(TenantProjectAdded(tenant_id=self.id, project_id=project_id))

    def on_tenant_registered(self, event: TenantRegistered) -> None:
        self.name = event.name
        self.owner_id = event.owner_id
        self.plan = event.plan
        self.project_limit = event.project_limit
        self.member_limit = event.member_limit

    def on_tenant_project_added(self, event: TenantProjectAdded) -> None:
        self.project_count += 1

    def on_tenant_project_released(self, event: TenantProjectReleased) -> None:
        self.project_count -= 1

    def on_tenant_plan_changed(self, event: TenantPlanChanged) -> None:
        self.plan = event.plan
        self.project_limit = event.project_limit
        self.member_limit = event.member_limit


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}", field="role")


class User(Aggregate):
    stream_prefix = "user"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.tenant_id = ""
        self.email = ""
        self.name = ""
        self.role = "member"
        self.active = True

    @classmethod
    def register(
        cls,
        user_id: str,
        *,
        tenant_id: str,
        email: str,
        name: str,
        role: str,
        invited_by: Actor | None,
    ) -> User:
        check_role(role)
        if invited_by is not None:
            if not invited_by.is_admin:
                raise NotAllowedError("only owners and admins invite users")
            if role == "owner" and invited_by.role != "owner":
                raise NotAllowedError("only an owner can make another owner")
        user = cls(user_id)
        user.record(
            UserRegistered(
                user_id=user_id,
                tenant_id=tenant_id,
                email=email,
                name=name,
                role=role,
                invited_by=None if invited_by is None else invited_by.user_id,
            )
        )
        return user

    def rename(self, name: str, *, by: Actor) -> None:
        self._check_active()
        if by.user_id != self.id and not by.is_admin:
            raise NotAllowedError("only the user or an admin renames a user")
        if name != self.name:
            self.record(UserRenamed(user_id=self.id, name=name))

    def change_role(self, role: str, *, by: Actor) -> None:
        self._check_active()
        check_role(role)
        if not by.is_admin or ("owner" in (role, self.role) and by.role != "owner"):
            raise NotAllowedError("not allowed to change this role")
        if by.user_id == self.id:
            raise UserRuleError("you cannot change your own role", user_id=self.id)
        if role != self.role:
            self.record(UserRoleChanged(user_id=self.id, role=role))

    def deactivate(self, *, by: Actor) -> None:
        self._check_active()
        if not by.is_admin or (self.role == "owner" and by.role != "owner"):
            raise NotAllowedError("not allowed to deactivate this user")
        if by.user_id == self.id:
            raise UserRuleError("you cannot deactivate yourself", user_id=self.id)
        self.record(UserDeactivated(user_id=self.id))

    def _check_active(self) -> None:
        if not self.active:
            raise UserRuleError("this user is deactivated", user_id=self.id)

    def on_user_registered(self, event: UserRegistered) -> None:
        self.tenant_id = event.tenant_id
        self.email = event.email
        self.name = event.name
        self.role = event.role

    def on_user_renamed(self, event: UserRenamed) -> None:
        self.name = event.name

    def on_user_role_changed(self, event: UserRoleChanged) -> None:
        self.role = event.role

    def on_user_deactivated(self, event: UserDeactivated) -> None:
        self.active = False
