"""The OpenAPI 3.1 document: complete, and its schemas describe what the API really answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
from starlette.routing import Route

from app.kernel.tokens import TokenSigner
from app.main import create_app
from tests.integration.api_helpers import create_project, create_task
from tests.support import SECRET, invite, settings_for, sign_up


def template_of(document: dict[str, Any], path: str) -> str | None:
    for template in document["paths"]:
        if re.fullmatch(re.sub(r"{\w+}", "[^/]+", template), path):
            return template
    return None


async def test_openapi_is_3_1_and_describes_every_route_of_the_app(
    client: httpx.AsyncClient, pg_url: str
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1.")
    jsonschema.Draft202012Validator.check_schema({"$defs": document["components"]["schemas"]})
    app = create_app(settings_for(pg_url))
    served = {
        (method.lower(), route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path != "/openapi.json"
        for method in (route.methods or set()) - {"HEAD"}
    }
    described = {(m, p) for p, item in document["paths"].items() for m in item}
    assert served - described == set()
    assert described - served == set()
    operation_ids = [
        op["operationId"] for item in document["paths"].values() for op in item.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


async def test_every_real_response_matches_the_schema_the_document_declares(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    seen: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    client.event_hooks["response"].append(keep)
    owner = await sign_up(client)
    h = owner["headers"]
    mia = await invite(client, owner, "Mia")
    await client.post("/auth/login", json={"email": owner["email"], "password": "nope nope"})
    await client.get("/me", headers=h)
    await client.get("/users", headers=h)
    await client.get(f"/users/{mia['user_id']}", headers=h)
    await client.patch(f"/users/{mia['user_id']}", json={"name": "Mia B"}, headers=h)
    await client.patch(
        f"/users/{mia['user_id']}", json={"name": "x"}, headers={**h, "If-Match": '"1"'}
    )
    pid = await create_project(client, owner, budget=100)
    await client.get(f"/projects/{pid}", headers=h)
    await client.patch(f"/projects/{pid}", json={"description": "d"}, headers=h)
    await client.put(f"/projects/{pid}/budget", json={"budget_cents": 50}, headers=h)
    await client.post(f"/projects/{pid}/spend", json={"amount_cents": 60}, headers=h)
    await client.post(f"/projects/{pid}/spend", json={"amount_cents": 6.5}, headers=h)
    await client.post(f"/projects/{pid}/members", json={"user_id": mia["user_id"]}, headers=h)
    member = f"/projects/{pid}/members/{mia['user_id']}"
    await client.put(member, json={"role": "manager"}, headers=h)
    await client.put(member, json={"role": "member"}, headers=h)
    await client.put(f"/projects/{pid}/members/{owner['user_id']}", json={"role": "x"}, headers=h)
    await client.get("/tenant/plan", headers=h)
    await client.put("/tenant/plan", json={"plan": "team"}, headers=h)
    await client.put("/tenant/plan", json={"plan": "team"}, headers=mia["headers"])
    tid = await create_task(client, owner, pid)
    await client.get(f"/tasks/{tid}", headers=h)
    await client.patch(f"/tasks/{tid}", json={"title": "T2"}, headers=h)
    await client.put(f"/tasks/{tid}/assignee", json={"assignee_id": mia["user_id"]}, headers=h)
    moved = await client.post(f"/tasks/{tid}/move", json={"status": "done"}, headers=h)
    await client.post(f"/tasks/{tid}/move", json={"status": "done"}, headers=h)
    await client.patch(
        f"/tasks/{tid}", json={"due_at": "2026-01-02T09:00:00+01:00", "priority": "high"}, headers=h
    )
    await client.patch(f"/tasks/{tid}", json={"due_at": "2026-01-02T09:00:00"}, headers=h)
    comments = f"/tasks/{tid}/comments"
    commented = await client.post(comments, json={"body": "hi"}, headers=h)
    comment = f"{comments}/{commented.json()['id']}"
    await client.patch(comment, json={"body": "hello"}, headers=h)
    await client.patch(comment, json={"body": "not mine"}, headers=mia["headers"])
    await client.get(comments, params={"min_position": commented.json()["position"]}, headers=h)
    await client.delete(comment, headers=h)
    await client.get("/me/tasks", params={"min_position": moved.json()["position"]}, headers=h)
    await client.get("/me/tasks", params={"cursor": "bad"}, headers=mia["headers"])
    seen_at = moved.json()["position"]
    await client.get("/projects", params={"min_position": seen_at}, headers=h)
    await client.get("/projects", params={"limit": 0}, headers=h)
    await client.get(f"/projects/{pid}/dashboard", params={"min_position": seen_at}, headers=h)
    await client.get(f"/projects/{pid}/board", params={"min_position": seen_at}, headers=h)
    await client.get(f"/projects/{pid}/activity", params={"limit": 2}, headers=h)
    await client.get("/search", params={"q": "apol", "min_position": seen_at}, headers=h)
    await client.get("/search", params={"q": "x", "cursor": "bad"}, headers=h)
    await client.get("/reports/projects.csv", params={"min_position": seen_at}, headers=h)
    await client.get(f"/projects/{pid}/reports/tasks.csv", headers=h)
    await client.get(f"/projects/{pid}/reports/tasks.csv", headers=mia["headers"])
    await client.get("/activity", headers=h)
    m = mia["headers"]
    await client.get("/notifications/unread-count", params={"min_position": seen_at}, headers=m)
    inbox = await client.get("/notifications", params={"limit": 1}, headers=m)
    await client.post(f"/notifications/{inbox.json()['items'][0]['id']}/read", headers=m)
    await client.post("/notifications/read-all", json={}, headers=m)
    await client.post("/notifications/read-all", json={"up_to": "x"}, headers=m)
    await client.get(f"/projects/{pid}/analytics", headers=h)
    await client.get(f"/projects/{pid}/analytics", params={"from": "x"}, headers=h)
    await client.post("/auth/realtime-ticket", headers=h)
    await client.get(f"/projects/{pid}/history", headers=h)
    await client.get(f"/projects/{pid}/state", params={"as_of_version": 2}, headers=h)
    await client.get(f"/tasks/{tid}/history", headers=h)
    await client.get(f"/tasks/{tid}/state", params={"as_of_version": 1}, headers=h)
    await client.post(f"/tasks/{tid}/archive", headers=h)
    await client.get(f"/tasks/{tid}", headers=mia["headers"])
    await client.delete(f"/projects/{pid}/members/{mia['user_id']}", headers=h)
    await client.get(f"/tasks/{tid}", headers=mia["headers"])
    await client.post(f"/projects/{pid}/status", json={"status": "cancelled"}, headers=h)
    await client.post(f"/projects/{pid}/status", json={"status": "archived"}, headers=h)
    await client.post(f"/projects/{pid}/tasks", json={"title": "late"}, headers=h)
    await client.post("/projects", content=b"<xml/>", headers={**h, "content-type": "text/xml"})
    await client.post(
        "/users", json={"email": "a@b.co", "name": "A", "password": "x" * 8}, headers=mia["headers"]
    )
    await client.delete(f"/users/{mia['user_id']}", headers=h)
    await client.get("/me")
    await client.get("/healthz")
    await client.get("/readyz")
    await client.get("/")
    await client.get("/metrics")
    service = TokenSigner(SECRET).issue(
        {"sub": "gateway"}, kind="service", now=datetime.now(UTC), ttl_s=60
    )
    backfill = {"tenant": owner["tenant_id"], "scope": f"project:{pid}", "after": "0"}
    await client.get(
        "/internal/backfill", params=backfill, headers={"Authorization": f"Bearer {service}"}
    )
    await client.get("/internal/backfill", params=backfill, headers=h)  # not a service token
    await client.get(
        "/internal/backfill", params={"after": "x"}, headers={"Authorization": f"Bearer {service}"}
    )
    client.event_hooks["response"].remove(keep)

    checked: set[tuple[str, str, int]] = set()
    for response in seen:
        request = response.request
        template = template_of(document, request.url.path)
        assert template is not None, request.url.path
        operation = document["paths"][template][request.method.lower()]
        declared = operation["responses"].get(str(response.status_code))
        where = f"{request.method} {template} -> {response.status_code}"
        assert declared is not None, f"{where} is not declared: {response.text}"
        content_type = response.headers["content-type"]
        media = content_type.split(";")[0].strip()
        if media in ("text/html", "text/plain", "text/csv"):
            assert media in declared.get("content", {}), where
            checked.add((request.method, template, response.status_code))
            continue
        assert content_type in declared.get("content", {}), f"{where}: {content_type}"
        schema = declared["content"][content_type]["schema"]
        jsonschema.validate(
            response.json(),
            {**schema, "components": document["components"]},
            cls=jsonschema.Draft202012Validator,
        )
        checked.add((request.method, template, response.status_code))
    statuses = {status for _, _, status in checked}
    assert {200, 201, 401, 403, 404, 409, 415, 422} <= statuses
    assert len({(m, t) for m, t, _ in checked}) == sum(len(i) for i in document["paths"].values())
