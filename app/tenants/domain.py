"""Tenant and User aggregates: plans, roles and who may manage whom."""

from __future__ import annotations

from app.kernel.domain import ROLES, Actor, Aggregate, InvalidInputError
from app.tenants.errors import NotAllowedError, ProjectLimitReachedError, UserRuleError
from app.tenants.events import (
    TenantProjectAdded,
    TenantRegistered,
    UserDeactivated,
    UserRegistered,
    UserRenamed,
    UserRoleChanged,
)


class Tenant(Aggregate):
    stream_prefix = "tenant"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""
        self.project_limit = 0
        self.project_count = 0

    @classmethod
    def register(cls, tenant_id: str, name: str, project_limit: int, owner_id: str) -> Tenant:
        tenant = cls(tenant_id)
        tenant.record(
            TenantRegistered(
                tenant_id=tenant_id, name=name, project_limit=project_limit, owner_id=owner_id
            )
        )
        return tenant

    def take_project_slot(self, project_id: str) -> None:
        """Refuse a new project once the plan's limit is used up."""
        if self.project_count >= self.project_limit:
            raise ProjectLimitReachedError(
                f"the plan allows {self.project_limit} projects",
                tenant_id=self.id,
                limit=self.project_limit,
            )
        self.record(TenantProjectAdded(tenant_id=self.id, project_id=project_id))

    def on_tenant_registered(self, event: TenantRegistered) -> None:
        self.name = event.name
        self.project_limit = event.project_limit

    def on_tenant_project_added(self, event: TenantProjectAdded) -> None:
        self.project_count += 1


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
