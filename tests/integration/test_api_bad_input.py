"""Bad input of every kind is a 4xx problem+json, never a 500, and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.api_helpers import assert_problem, create_project, create_task, store_head
from tests.support import invite, sign_up

JSON = {"content-type": "application/json"}
BIG = 64 * 1024 + 1

# (method, path, JSON body, expected status, expected field). {p} = project, {t} = task, {u} = user.
BAD_BODIES: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/projects", {"name": "A", "owner": "me"}, 422, "owner"),
    ("POST", "/projects", {"name": 5}, 422, "name"),
    ("POST", "/projects", {"name": ""}, 422, "name"),
    ("POST", "/projects", {"name": "   "}, 422, "name"),
    ("POST", "/projects", {"name": "x" * 201}, 422, "name"),
    ("POST", "/projects", {"name": "A", "description": "x" * 5001}, 422, "description"),
    ("POST", "/projects", {"name": "A", "budget_cents": 10.5}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A", "budget_cents": 10.0}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A", "budget_cents": "10"}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A", "budget_cents": True}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A", "budget_cents": -1}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A", "budget_cents": 10**14}, 422, "budget_cents"),
    ("POST", "/projects", {"name": "A\u0000B"}, 422, "name"),
    ("POST", "/projects", [{"name": "A"}], 422, None),
    ("POST", "/projects", None, 400, "body"),
    ("PATCH", "/projects/{p}", {"name": None, "colour": "red"}, 422, "colour"),
    ("PATCH", "/projects/{p}", {"name": ["A"]}, 422, "name"),
    ("POST", "/projects/{p}/status", {"status": "deleted"}, 422, "status"),
    ("POST", "/projects/{p}/status", {}, 422, "status"),
    ("PUT", "/projects/{p}/budget", {"budget_cents": "1e3"}, 422, "budget_cents"),
    ("PUT", "/projects/{p}/budget", {"budget_cents": 1e3}, 422, "budget_cents"),
    ("POST", "/projects/{p}/spend", {"amount_cents": 0}, 422, "amount_cents"),
    ("POST", "/projects/{p}/spend", {"amount_cents": 0.01}, 422, "amount_cents"),
    ("POST", "/projects/{p}/spend", {"amount_cents": "12.50"}, 422, "amount_cents"),
    ("POST", "/projects/{p}/spend", {"amount_cents": 1, "note": "x" * 501}, 422, "note"),
    ("POST", "/projects/{p}/members", {"user_id": "not-a-uuid"}, 422, "user_id"),
    ("POST", "/projects/{p}/members", {"user_id": "{u}x"}, 422, "user_id"),
    ("POST", "/projects/{p}/members", {"user_id": 12345}, 422, "user_id"),
    ("POST", "/projects/{p}/tasks", {"title": "x" * 301}, 422, "title"),
    ("POST", "/projects/{p}/tasks", {"title": "T", "assignee_id": "nope"}, 422, "assignee_id"),
    ("POST", "/projects/{p}/tasks", {"title": "T", "status": "done"}, 422, "status"),
    ("PATCH", "/tasks/{t}", {"description": "x" * 10001}, 422, "description"),
    ("PUT", "/tasks/{t}/assignee", {}, 422, "assignee_id"),
    ("PUT", "/tasks/{t}/assignee", {"assignee_id": "00000000-0000-0000-0000"}, 422, "assignee_id"),
    ("POST", "/tasks/{t}/move", {"status": "DONE"}, 422, "status"),
    (
        "POST",
        "/users",
        {"email": "no-at-sign", "name": "N", "password": "long enough"},
        422,
        "email",
    ),
    ("POST", "/users", {"email": "a@b.co", "name": "N", "password": "short"}, 422, "password"),
    (
        "POST",
        "/users",
        {"email": "a@b.co", "name": "N", "password": "x" * 8, "role": "god"},
        422,
        "role",
    ),
    ("PATCH", "/users/{u}", {"role": "superuser"}, 422, "role"),
    ("POST", "/auth/signup", {"tenant_name": "T", "name": "N", "email": "x@y.z"}, 422, "password"),
    ("POST", "/auth/login", {"email": "a@b.co", "password": ""}, 422, "password"),
]

BAD_PATH_IDS = [
    ("GET", "/projects/not-a-uuid"),
    ("PATCH", "/projects/12345"),
    ("POST", "/projects/..%2F..%2Fetc/status"),
    ("GET", "/tasks/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"),
    ("POST", "/tasks/1/move"),
    ("POST", "/tasks/%00/archive"),
    ("GET", "/users/' OR 1=1 --"),
    ("DELETE", "/projects/{p}/members/not-a-uuid"),
    ("GET", "/projects/00000000-0000-0000-0000-000000000000"),
    ("GET", "/tasks/00000000-0000-0000-0000-000000000000"),
]


@pytest.fixture
async def world(client: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    pid = await create_project(client, owner)
    tid = await create_task(client, owner, pid)
    yield {"owner": owner, "p": pid, "t": tid, "u": mia["user_id"]}


def fill(template: Any, world: dict[str, Any]) -> Any:
    if isinstance(template, str):
        return (
            template.replace("{p}", world["p"])
            .replace("{t}", world["t"])
            .replace("{u}", world["u"])
        )
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    return template


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), BAD_BODIES)
async def test_a_bad_body_is_refused_with_a_problem_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient,
    pg_url: str,
    world: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    head = await store_head(pg_url)
    response = await client.request(
        method, fill(path, world), json=fill(body, world), headers=world["owner"]["headers"]
    )
    assert_problem(response, status)
    if field is not None:
        assert response.json()["field"] == field
    assert await store_head(pg_url) == head


@pytest.mark.parametrize(("method", "path"), BAD_PATH_IDS)
async def test_an_id_in_the_path_that_names_nothing_is_not_found(
    client: httpx.AsyncClient, pg_url: str, world: dict[str, Any], method: str, path: str
) -> None:
    head = await store_head(pg_url)
    body = None if method in ("GET", "DELETE") else {"status": "on_hold", "name": "x"}
    response = await client.request(
        method, fill(path, world), json=body, headers=world["owner"]["headers"]
    )
    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await store_head(pg_url) == head


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"", JSON, 400, "missing_body"),
        (b"   ", JSON, 400, "missing_body"),
        (b'{"name": "A",}', JSON, 400, "invalid_json"),
        (b"{'name': 'A'}", JSON, 400, "invalid_json"),
        (b'{"name": "A"', JSON, 400, "invalid_json"),
        (b"\xff\xfe{}", JSON, 400, "invalid_json"),
        (b'{"name": "\\ud800"}', JSON, 400, "invalid_json"),
        (b'{"name": "A", "budget_cents": 1' + b"0" * 40 + b"}", JSON, None, None),
        (b"NaN", JSON, 400, "invalid_json"),
        (b"null", JSON, 422, "validation_error"),
        (b'"Apollo"', JSON, 422, "validation_error"),
        (b"name=A", {"content-type": "application/x-www-form-urlencoded"}, 415, None),
        (b'{"name": "A"}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b'{"name": "A"}', {"content-type": "multipart/form-data; boundary=x"}, 415, None),
        (b'{"name": "' + b"x" * BIG + b'"}', JSON, 413, "body_too_large"),
    ],
)
async def test_a_body_that_is_not_acceptable_json_is_a_4xx_and_writes_nothing(
    client: httpx.AsyncClient,
    pg_url: str,
    world: dict[str, Any],
    content: bytes,
    headers: dict[str, str],
    status: int | None,
    code: str | None,
) -> None:
    head = await store_head(pg_url)
    response = await client.post(
        "/projects", content=content, headers={**world["owner"]["headers"], **headers}
    )
    if status is None:
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/problem+json"
    else:
        assert_problem(response, status, code)
    assert await store_head(pg_url) == head


async def test_a_huge_streamed_body_without_a_length_is_cut_off_with_413(
    client: httpx.AsyncClient, pg_url: str, world: dict[str, Any]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    head = await store_head(pg_url)
    response = await client.post(
        "/projects", content=chunks(), headers={**world["owner"]["headers"], **JSON}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body_too_large")
    assert await store_head(pg_url) == head


async def test_an_unknown_route_or_method_is_a_problem_too(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    assert_problem(await client.get("/nowhere", headers=owner["headers"]), 404)
    assert_problem(await client.put("/projects", json={}, headers=owner["headers"]), 405)
