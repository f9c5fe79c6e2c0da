from __future__ import annotations

from app.kernel.domain import (
    DomainError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
)


class TenantsError(DomainError):
    code = "tenants_error"


class UserNotFoundError(TenantsError, NotFoundError):
    code = "user_not_found"


class EmailTakenError(TenantsError, InvalidInputError):
    code = "email_taken"


class BadCredentialsError(TenantsError):
    code = "bad_credentials"


class ProjectLimitReachedError(TenantsError, LimitReachedError):
    code = "project_limit_reached"


class NotAllowedError(TenantsError, PermissionDeniedError):
    code = "not_allowed"


class UserRuleError(TenantsError, RuleViolationError):
    code = "user_rule"


class MemberLimitReachedError(TenantsError, LimitReachedError):
    code = "member_limit_reached"


class PlanBelowUsageError(TenantsError, RuleViolationError):
    """A downgrade to a plan whose limits are below what the tenant uses now."""

    code = "plan_below_usage"


class UserDeactivatedError(TenantsError, RuleViolationError):
    code = "user_deactivated"
