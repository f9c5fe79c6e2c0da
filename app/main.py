"""create_app(settings): routes, error handlers, and a lifespan that owns the engine and bus."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from app import embedded, metrics, migrate, readmodels, runtime
from app.activity.routes import api as activity_api
from app.analytics.routes import api as analytics_api
from app.bootstrap import Services, bootstrap
from app.eventstore.postgres import CONNECTION_ERRORS
from app.kernel.db import make_engine
from app.kernel.domain import DomainError
from app.kernel.openapi import build_openapi
from app.kernel.problems import HttpProblem, from_domain_error, from_http_problem, problem_response
from app.kernel.routing import IndexedRouter
from app.kernel.web import Endpoint, handler_for
from app.notifications.routes import api as notifications_api
from app.projects.routes import api as projects_api
from app.relay import routes as relay_routes
from app.reports.routes import api as reports_api
from app.search.routes import api as search_api
from app.settings import Settings, SettingsError
from app.tasks.routes import api as tasks_api
from app.tenants.passwords import Argon2Hasher
from app.tenants.ports import PasswordHasher
from app.tenants.routes import api as tenants_api
from app.tools import gctuning
from app.web.routes import routes as web_routes

log = logging.getLogger("collabspace")


def endpoints() -> list[Endpoint]:
    return [
        *tenants_api.endpoints,
        *projects_api.endpoints,
        *tasks_api.endpoints,
        *activity_api.endpoints,
        *notifications_api.endpoints,
        *analytics_api.endpoints,
        *search_api.endpoints,
        *reports_api.endpoints,
    ]


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    services: Services = request.state.services
    checks: dict[str, Any] = {}
    try:
        async with services.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except (OSError, DBAPIError):
        checks["database"] = "unavailable"
    relay = request.state.runtime.relay
    if relay is not None:
        # A standby relay is healthy; a leader that cannot reach the broker is not ready.
        checks["relay"] = "ok" if relay.healthy else relay.state
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return Response(orjson.dumps(body), 200 if ready else 503, media_type="application/json")


BACKFILL_SCOPES = (
    "tenant | access | project:<uuid> | notifications:<user uuid> (that user's inbox, from the"
    " notifications read model)"
)


def _with_operations(document: dict[str, Any]) -> dict[str, Any]:
    """Describe the operational endpoints too, so that the document covers every route."""
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    json_status = {"application/json": {"schema": status}}
    document["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "The process is up",
            "tags": ["operations"],
            "responses": {"200": {"description": "OK", "content": json_status}},
        }
    }
    document["paths"]["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "summary": "The database is reachable",
            "tags": ["operations"],
            "responses": {
                "200": {"description": "Ready", "content": json_status},
                "503": {"description": "A dependency is unavailable", "content": json_status},
            },
        }
    }
    document["paths"]["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics: relay, projections, process",
            "tags": ["operations"],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {}}}},
        }
    }
    document["paths"]["/"] = {
        "get": {
            "operationId": "board_page",
            "summary": "The live board page (HTML; its modules are under /static/)",
            "tags": ["web"],
            "responses": {"200": {"description": "OK", "content": {"text/html": {}}}},
        }
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    document["paths"]["/internal/backfill"] = {
        "get": {
            "operationId": "internal_backfill",
            "summary": "Gateway nodes only (service token): a channel's events after a position",
            "tags": ["internal"],
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": name != "limit",
                    "schema": {"type": "integer" if name in ("after", "limit") else "string"},
                    **({"description": BACKFILL_SCOPES} if name == "scope" else {}),
                }
                for name in ("tenant", "scope", "after", "limit")
            ],
            "responses": {
                "200": {
                    "description": "Broker envelopes in position order; complete=false: more",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["events", "complete"],
                                "properties": {
                                    "events": {"type": "array", "items": {"type": "object"}},
                                    "complete": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "400": {"description": "Bad query", "content": problem},
                "401": {"description": "No valid service token", "content": problem},
            },
        }
    }
    return document


def serving_app() -> Starlette:
    """The factory `collabspace serve --workers N` hands uvicorn: one app per worker process."""
    return create_app(serving=True)


def _openapi_route(document: dict[str, Any]) -> Route:
    payload = orjson.dumps(document)

    async def openapi(request: Request) -> Response:
        return Response(payload, media_type="application/json")

    return Route("/openapi.json", openapi, methods=["GET"])


async def _on_http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpProblem)
    return from_http_problem(exc)


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return from_domain_error(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return problem_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_database_down(request: Request, exc: Exception) -> Response:
    # A dependency outage is the server's 503, never a 500 and never the client's fault.
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        503,
        "unavailable",
        "the database is unavailable; retry shortly",
        headers={"Retry-After": "1"},
    )


def _is_database_outage(exc: BaseException) -> bool:
    """A lost or refused database connection, however the driver or SQLAlchemy wrapped it.

    pg_terminate_backend, a restart or a network cut surface as asyncpg errors, as SQLAlchemy
    DBAPIErrors around them (not always marked as disconnects), or as an error raised while
    handling one. SQLSTATE classes 08 (connection), 57P (operator intervention) and 53300 (too
    many connections) mean the same: the database is unavailable, a 503 and not a bug.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (*CONNECTION_ERRORS, OSError, OperationalError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(("08", "57P", "53300")):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend([getattr(current, "orig", None), current.__cause__, current.__context__])
    return False


async def _on_client_disconnect(request: Request, exc: Exception) -> Response:
    # The client went away while we read its body: nobody is left to answer, nothing to log.
    return Response(status_code=499)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # One classifier for every shape a database outage takes (see _is_database_outage).
    if _is_database_outage(exc):
        return await _on_database_down(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal_error", "an unexpected error occurred")


async def _check_request_role(engine: AsyncEngine, settings: Settings) -> None:
    """Refuse to start when the request paths cannot log in as their role (SQLSTATE 28xxx):
    a missing collabspace_app or a password it needs, rather than a 503 on every request.
    A database that is down is no misconfiguration: the API starts, and /readyz says 503."""
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except OSError:
        log.warning("database unreachable at start-up; /readyz answers 503 until it is back")
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
            getattr(exc.orig, "__cause__", None), "sqlstate", None
        )
        if isinstance(sqlstate, str) and sqlstate.startswith("28"):
            where = "APP_DATABASE_URL" if settings.app_database_url else "derived from DATABASE_URL"
            raise SettingsError(
                f"the request paths cannot log in ({where}): {exc.orig}; create the role "
                "collabspace_app (migration 0004 does, given CREATEROLE) or set APP_DATABASE_URL"
            ) from None
        if not _is_database_outage(exc):
            raise
        log.warning("database unavailable at start-up; /readyz answers 503 until it is back")


def create_app(
    settings: Settings | None = None,
    *,
    hasher: PasswordHasher | None = None,
    serving: bool = False,
) -> Starlette:
    """The API as an ASGI app. Nothing is connected until the lifespan starts.

    `serving`: this process exists to serve it (`collabspace serve`), so it may tune the
    process-wide garbage collector once started (app.tools.gctuning); tests and tools leave it off.
    """
    settings = settings or Settings.from_env()
    api_endpoints = endpoints()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # The embedded default starts its own PostgreSQL server and migrates it (PostgreSQL
        # elsewhere is migrated by the release step); from then on it runs as production does.
        async with embedded.running(settings) as active:
            engine = make_engine(active.database_url, pool_size=active.db_pool_size)
            if settings.embedded:
                await migrate.upgrade(engine)
            # Requests connect as the app role (row-level security); the relay and the
            # projections read across tenants with the owner's connection.
            request_engine = engine
            if active.request_database_url != active.database_url:
                request_engine = make_engine(
                    active.request_database_url, pool_size=active.db_pool_size
                )
            await _check_request_role(request_engine, active)
            services = bootstrap(active, request_engine, hasher=hasher or Argon2Hasher())
            try:
                async with runtime.running(
                    active, engine, services.signal, request_engine=request_engine
                ) as parts:
                    if serving:
                        gctuning.settle()
                    yield {
                        "services": services,
                        "runtime": parts,
                        "metrics": metrics.registry_for(parts, services.signal),
                    }
            finally:
                await services.close()
                if request_engine is not engine:
                    await request_engine.dispose()
                await engine.dispose()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        _openapi_route(
            _with_operations(build_openapi(api_endpoints, title="CollabSpace API", version="0.1.0"))
        ),
        *[Route(e.path, handler_for(e), methods=[e.method]) for e in api_endpoints],
        *web_routes(),
        *relay_routes.routes(readmodels.BACKFILL_READERS),
    ]
    application = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HttpProblem: _on_http_problem,
            DomainError: _on_domain_error,
            HTTPException: _on_http_exception,
            ClientDisconnect: _on_client_disconnect,
            Exception: _on_unexpected,
        },
    )
    # The same routes, looked up by their first path segment (see app/kernel/routing.py).
    application.router = IndexedRouter(routes, lifespan=lifespan)
    return application
