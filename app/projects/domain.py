"""The Project aggregate: status transitions, budget and spend rules, members."""

from __future__ import annotations

from app.kernel.domain import Actor, Aggregate
from app.projects.errors import (
    BudgetRuleError,
    InvalidTransitionError,
    MembershipError,
    ProjectArchivedError,
    ProjectNotFoundError,
    ProjectPermissionError,
)
from app.projects.events import (
    ProjectBudgetChanged,
    ProjectCreated,
    ProjectDescribed,
    ProjectMemberAdded,
    ProjectMemberRemoved,
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
        project.record(ProjectMemberAdded(project_id=project_id, user_id=by.user_id))
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

    def _check_manager(self, actor: Actor) -> None:
        if not (actor.is_admin or actor.user_id == self.created_by):
            raise ProjectPermissionError(
                "only the project's creator or a tenant admin manages members", project_id=self.id
            )

    def _check_changeable(self) -> None:
        if self.status == "archived":
            raise ProjectArchivedError("an archived project cannot change", project_id=self.id)

    # -- commands -------------------------------------------------------------------------
    def rename(self, name: str) -> None:
        self._check_changeable()
        if name != self.name:
            self.record(ProjectRenamed(project_id=self.id, name=name))

    def describe(self, description: str) -> None:
        self._check_changeable()
        if description != self.description:
            self.record(ProjectDescribed(project_id=self.id, description=description))

    def change_status(self, to_status: str) -> None:
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

    def change_budget(self, budget_cents: int) -> None:
        self._check_changeable()
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

    def record_spend(self, amount_cents: int, note: str) -> None:
        self._check_changeable()
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

    def add_member(self, user_id: str, *, by: Actor) -> None:
        self._check_changeable()
        self._check_manager(by)
        if user_id in self.members:
            raise MembershipError("already a member", field="user_id", user_id=user_id)
        self.record(ProjectMemberAdded(project_id=self.id, user_id=user_id))

    def remove_member(self, user_id: str, *, by: Actor) -> None:
        self._check_changeable()
        self._check_manager(by)
        if user_id not in self.members:
            raise MembershipError("not a member", field="user_id", user_id=user_id)
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

    def on_project_member_removed(self, event: ProjectMemberRemoved) -> None:
        self.members.remove(event.user_id)
