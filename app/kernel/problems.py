"""Errors as application/problem+json (RFC 9457): one table from error class to HTTP status."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from app.kernel.domain import (
    ConcurrencyError,
    DomainError,
    InvalidInputError,
    LimitReachedError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    StaleVersionError,
)

PROBLEM_TYPE = "application/problem+json"

# Most specific first: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (StaleVersionError, 409),
    (ConcurrencyError, 409),
    (PermissionDeniedError, 403),
    (LimitReachedError, 403),
    (RuleViolationError, 409),
]

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class HttpProblem(Exception):  # noqa: N818 -- it is the RFC 9457 "problem", raised
    """A refusal decided in the web layer (bad JSON, bad header, no token...)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://collabspace.dev/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field is not None:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_TYPE)


def from_http_problem(exc: HttpProblem) -> Response:
    return problem_response(
        exc.status, exc.code, exc.detail, field=exc.field, headers=exc.headers, **exc.extra
    )


def from_domain_error(exc: DomainError) -> Response:
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    context = dict(exc.context)
    field = context.pop("field", None)
    headers = {}
    if isinstance(exc, StaleVersionError):
        headers["ETag"] = f'"{exc.current}"'
    safe = {k: v for k, v in context.items() if isinstance(v, str | int | list | type(None))}
    return problem_response(status, exc.code, exc.message, field=field, headers=headers, **safe)
