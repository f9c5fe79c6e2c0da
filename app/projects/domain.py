"""The Project aggregate: status transitions, budget and spend rules, members."""

from __future__ import annotations

from app.kernel.domain import Actor, Aggregate, InvalidInputError
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
    ProjectDescribed,
    ProjectMemberAdded,
    ProjectMemberRemoved,
    ProjectMemberRoleChanged,
    ProjectRenamed,
    ProjectSpendRecorded,
    ProjectStatusChanged,
)

STATUSES = ("active", "on_hold", "completed", "cancelled", "archived")

# The transition table from DESIGN.md; archived is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"on_hold", "completed", "cancelled"}),
    "on_hold": frozenset({"active", "cancelled"}),
    "completed": frozenset({"archived"}),
    "cancelled": frozenset({"archived"}),
    "archived": frozenset(),
}

PROJECT_ROLES = ("manager", "member")

# What a project accepts in each status (docs/permissions.md). Completed and cancelled projects
# are closed for work (no tasks created, edited, moved or assigned; nobody joins), yet still
# take money (a late invoice, the cost of cancelling) and let people leave; archived is final.
ACCEPTS_WORK = frozenset({"active", "on_hold"})
ACCEPTS_MONEY = frozenset({"active", "on_hold", "completed", "cancelled"})
ACCEPTS_NEW_MEMBERS = frozenset({"active", "on_hold"})


def check_project_role(role: str) -> None:
    if role not in PROJECT_ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(PROJECT_ROLES)}", field="role")


class Project(Aggregate):
    stream_prefix = "project"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.tenant_id = ""
        self.name = ""
        self.description = ""
        self.budget_cents = 0
        self.actual_spend_cents = 0
        self.status = "active"
        self.members: list[str] = []
        # The members who manage the project with the tenant's owners and admins: the creator
        # first; never empty while the project has members (LastManagerError).
        self.managers: set[str] = set()
        self.created_by = ""

    @classmethod
    def create(
        cls,
        project_id: str,
        *,
        tenant_id: str,
        name: str,
        description: str,
        budget_cents: int,
        by: Actor,
    ) -> Project:
        if budget_cents < 0:
            raise BudgetRuleError("budget cannot be negative", field="budget_cents")
        project = cls(project_id)
        project.record(
            ProjectCreated(
                project_id=project_id,
                tenant_id=tenant_id,
                name=name,
                description=description,
                budget_cents=budget_cents,
                created_by=by.user_id,
            )
        )
        # The creator is the first member, so the project is never unreachable for them.
        project.record(
            ProjectMemberAdded(project_id=project_id, user_id=by.user_id, role="manager")
        )
        return project

    # -- who may do what ------------------------------------------------------------------
    def can_read(self, actor: Actor) -> bool:
        return actor.tenant_id == self.tenant_id and (
            actor.is_admin or actor.user_id in self.members
        )

    def check_readable(self, actor: Actor) -> None:
        """Another tenant's project, or one the caller is not in, simply does not exist."""
        if not self.can_read(actor):
            raise ProjectNotFoundError(f"project {self.id} not found", project_id=self.id)

    def can_manage(self, actor: Actor) -> bool:
        """Tenant owners and admins manage every project; members only those they manage."""
        return actor.tenant_id == self.tenant_id and (
            actor.is_admin or actor.user_id in self.managers
        )

    def _check_manager(self, actor: Actor, what: str) -> None:
        if not self.can_manage(actor):
            raise ProjectPermissionError(
                f"only the project's managers or a tenant owner or admin {what}",
                project_id=self.id,
            )

    def _check_changeable(self) -> None:
        if self.status == "archived":
            raise ProjectArchivedError("an archived project cannot change", project_id=self.id)

    def _check_accepts(self, statuses: frozenset[str], what: str) -> None:
        self._check_changeable()
        if self.status not in statuses:
            raise ProjectClosedForWorkError(
                f"a {self.status} project no longer accepts {what}",
                project_id=self.id,
                project_status=self.status,
            )

    @property
    def accepts_work(self) -> bool:
        """Whether tasks may be created, edited, moved or assigned in this project."""
        return self.status in ACCEPTS_WORK

    def _check_keeps_a_manager(self, leaving: str) -> None:
        if self.managers == {leaving}:
            raise LastManagerError(
                "the project's last manager cannot leave or stop managing it; make another"
                " member a manager first",
                field="user_id",
                project_id=self.id,
                user_id=leaving,
            )

    # -- commands -------------------------------------------------------------------------
    def rename(self, name: str, *, by: Actor) -> None:
        self._check_changeable()
        self._check_manager(by, "renames it")
        if name != self.name:
            self.record(ProjectRenamed(project_id=self.id, name=name))

    def describe(self, description: str, *, by: Actor) -> None:
        self._check_changeable()
        self._check_manager(by, "describes it")
        if description != self.description:
            self.record(ProjectDescribed(project_id=self.id, description=description))

    def change_status(self, to_status: str, *, by: Actor) -> None:
        self._check_manager(by, "changes its status")
        if to_status not in TRANSITIONS.get(self.status, frozenset()):
            raise InvalidTransitionError(
                f"cannot go from {self.status} to {to_status}",
                field="status",
                from_status=self.status,
                to_status=to_status,
                allowed=sorted(TRANSITIONS.get(self.status, frozenset())),
            )
        self.record(
            ProjectStatusChanged(project_id=self.id, from_status=self.status, to_status=to_status)
        )

    def change_budget(self, budget_cents: int, *, by: Actor) -> None:
        self._check_accepts(ACCEPTS_MONEY, "budget changes")
        self._check_manager(by, "sets its budget")
        if budget_cents < 0:
            raise BudgetRuleError("budget cannot be negative", field="budget_cents")
        if budget_cents < self.actual_spend_cents:
            raise BudgetRuleError(
                "budget cannot be below the actual spend",
                field="budget_cents",
                actual_spend_cents=self.actual_spend_cents,
            )
        if budget_cents != self.budget_cents:
            self.record(ProjectBudgetChanged(project_id=self.id, budget_cents=budget_cents))

    def record_spend(self, amount_cents: int, note: str, *, by: Actor) -> None:
        self._check_accepts(ACCEPTS_MONEY, "spend")
        self._check_manager(by, "records its spend")
        if amount_cents <= 0:
            raise BudgetRuleError("spend must be positive", field="amount_cents")
        total = self.actual_spend_cents + amount_cents
        if total > self.budget_cents:
            raise BudgetRuleError(
                "spend would exceed the budget",
                field="amount_cents",
                budget_cents=self.budget_cents,
                actual_spend_cents=self.actual_spend_cents,
            )
        self.record(
            ProjectSpendRecorded(
                project_id=self.id, amount_cents=amount_cents, actual_spend_cents=total, note=note
            )
        )

    def add_member(self, user_id: str, *, by: Actor, role: str = "member") -> None:
        check_project_role(role)
        self._check_accepts(ACCEPTS_NEW_MEMBERS, "new members")
        self._check_manager(by, "adds members")
        if user_id in self.members:
            raise MembershipError("already a member", field="user_id", user_id=user_id)
        self.record(ProjectMemberAdded(project_id=self.id, user_id=user_id, role=role))

    def change_member_role(self, user_id: str, role: str, *, by: Actor) -> None:
        check_project_role(role)
        self._check_changeable()
        self._check_manager(by, "changes members' roles")
        if user_id not in self.members:
            raise MembershipError("not a member", field="user_id", user_id=user_id)
        if role == "member":
            self._check_keeps_a_manager(user_id)
        if (role == "manager") != (user_id in self.managers):
            self.record(ProjectMemberRoleChanged(project_id=self.id, user_id=user_id, role=role))

    def remove_member(self, user_id: str, *, by: Actor) -> None:
        """A manager removes anyone; any member may leave (remove themselves)."""
        self._check_changeable()
        if by.user_id != user_id or by.tenant_id != self.tenant_id:
            self._check_manager(by, "removes other members")
        if user_id not in self.members:
            raise MembershipError("not a member", field="user_id", user_id=user_id)
        self._check_keeps_a_manager(user_id)
        self.record(ProjectMemberRemoved(project_id=self.id, user_id=user_id))

    def release_departing_user(self, user_id: str, *, by: Actor) -> None:
        """A deactivated user leaves; if they were its last manager, the admin who deactivates
        them takes it over (joining if need be), so the project never ends unmanaged."""
        if self.status == "archived" or user_id not in self.members:
            return
        if self.managers == {user_id}:
            if by.user_id in self.members:
                self.record(
                    ProjectMemberRoleChanged(project_id=self.id, user_id=by.user_id, role="manager")
                )
            else:
                self.record(
                    ProjectMemberAdded(project_id=self.id, user_id=by.user_id, role="manager")
                )
        self.record(ProjectMemberRemoved(project_id=self.id, user_id=user_id))

    # -- state ----------------------------------------------------------------------------
    def on_project_created(self, event: ProjectCreated) -> None:
        self.tenant_id = event.tenant_id
        self.name = event.name
        self.description = event.description
        self.budget_cents = event.budget_cents
        self.created_by = event.created_by

    def on_project_renamed(self, event: ProjectRenamed) -> None:
        self.name = event.name

    def on_project_described(self, event: ProjectDescribed) -> None:
        self.description = event.description

    def on_project_status_changed(self, event: ProjectStatusChanged) -> None:
        self.status = event.to_status

    def on_project_budget_changed(self, event: ProjectBudgetChanged) -> None:
        self.budget_cents = event.budget_cents

    def on_project_spend_recorded(self, event: ProjectSpendRecorded) -> None:
        self.actual_spend_cents = event.actual_spend_cents

    def on_project_member_added(self, event: ProjectMemberAdded) -> None:
        self.members.append(event.user_id)
        # Before project roles (role ""), the creator was the one who managed members.
        legacy_manager = event.role == "" and event.user_id == self.created_by
        if event.role == "manager" or legacy_manager:
            self.managers.add(event.user_id)

    def on_project_member_role_changed(self, event: ProjectMemberRoleChanged) -> None:
        if event.role == "manager":
            self.managers.add(event.user_id)
        else:
            self.managers.discard(event.user_id)

    def on_project_member_removed(self, event: ProjectMemberRemoved) -> None:
        self.members.remove(event.user_id)
        self.managers.discard(event.user_id)
