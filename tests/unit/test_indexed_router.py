"""IndexedRouter must answer every request exactly as Starlette's own Router would."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Mount, Route, Router

from app.kernel.routing import IndexedRouter


def _named(name: str) -> object:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{name} {dict(request.path_params)}")

    return endpoint


def _routes() -> list[BaseRoute]:
    return [
        Route("/healthz", _named("healthz"), methods=["GET"]),
        Route("/tasks/{task_id}", _named("get task"), methods=["GET"]),
        Route("/tasks/{task_id}", _named("edit task"), methods=["PATCH"]),
        Route("/tasks/{task_id}/move", _named("move"), methods=["POST"]),
        # A first segment that is a parameter belongs to every bucket, at its place.
        Route("/{anything}/help", _named("help"), methods=["GET"]),
        Route("/projects", _named("list projects"), methods=["GET"]),
        Route("/projects/{project_id}", _named("get project"), methods=["GET"]),
        Mount("/static", routes=[Route("/app.js", _named("app.js"))]),
        Route("/", _named("board"), methods=["GET"]),
    ]


def _client(router_class: type[Router]) -> httpx.AsyncClient:
    app = Starlette()
    app.router = router_class(_routes())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


REQUESTS = [
    ("GET", "/healthz"),
    ("GET", "/tasks/7"),
    ("PATCH", "/tasks/7"),
    ("DELETE", "/tasks/7"),  # partial matches only: 405 with Allow
    ("POST", "/tasks/7/move"),
    ("GET", "/tasks/7/move"),
    ("GET", "/tasks/help"),  # the parameter-first route, reached from a literal bucket
    ("GET", "/nowhere/help"),
    ("GET", "/projects/help"),  # ... and before a literal bucket's later route
    ("GET", "/projects"),
    ("GET", "/projects/"),  # slash redirect comes from Starlette's own loop
    ("GET", "/projects/9"),
    ("GET", "/static/app.js"),
    ("GET", "/static/missing.js"),
    ("GET", "/"),
    ("GET", "/unknown"),
    ("POST", "/"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
async def test_the_indexed_router_answers_as_starlettes_router(method: str, path: str) -> None:
    async with _client(Router) as plain, _client(IndexedRouter) as indexed:
        expected = await plain.request(method, path)
        got = await indexed.request(method, path)
    assert (got.status_code, got.text, got.headers.get("allow"), got.headers.get("location")) == (
        expected.status_code,
        expected.text,
        expected.headers.get("allow"),
        expected.headers.get("location"),
    )
