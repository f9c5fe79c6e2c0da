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
