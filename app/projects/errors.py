from __future__ import annotations

from app.kernel.domain import (
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)


class ProjectsError(DomainError):
    code = "projects_error"


class ProjectNotFoundError(ProjectsError, NotFoundError):
    code = "project_not_found"


class InvalidTransitionError(ProjectsError, RuleViolationError):
    code = "invalid_status_transition"


class BudgetRuleError(ProjectsError, RuleViolationError):
    code = "budget_rule"


class ProjectArchivedError(ProjectsError, RuleViolationError):
    code = "project_archived"


class MembershipError(ProjectsError, RuleViolationError):
    code = "membership_rule"


class ProjectPermissionError(ProjectsError, PermissionDeniedError):
    code = "project_forbidden"


class LastManagerError(ProjectsError, RuleViolationError):
    """The project would be left without anyone of its own who can manage it."""

    code = "last_project_manager"


class ProjectClosedForWorkError(ProjectsError, RuleViolationError):
    code = "project_closed"
