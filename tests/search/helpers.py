"""Writes through the API, and reads that wait until the read models have seen them."""

from __future__ import annotations

from typing import Any

import httpx


class World:
    """Remembers the newest position written, so reads can ask for it (read-your-writes)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.position = 0

    async def write(
        self, method: str, path: str, who: dict[str, Any], body: Any = None
    ) -> dict[str, Any]:
        response = await self.client.request(method, path, json=body, headers=who["headers"])
        assert response.status_code in (200, 201), response.text
        reply: dict[str, Any] = response.json()
        self.position = max(self.position, reply["position"])
        return reply

    async def project(self, who: dict[str, Any], name: str, description: str = "") -> str:
        body = {"name": name, "description": description, "budget_cents": 1000}
        return str((await self.write("POST", "/projects", who, body))["id"])

    async def task(
        self, who: dict[str, Any], project_id: str, title: str, description: str = ""
    ) -> str:
        body = {"title": title, "description": description}
        return str((await self.write("POST", f"/projects/{project_id}/tasks", who, body))["id"])

    async def get(self, path: str, who: dict[str, Any], **params: Any) -> httpx.Response:
        params = {"min_position": self.position, **params}
        response = await self.client.get(path, params=params, headers=who["headers"])
        if response.status_code == 200:
            # The read model had caught up: the answer reflects every write above.
            assert "X-Read-Lag" not in response.headers, response.headers
        return response

    async def search(self, who: dict[str, Any], q: str, **params: Any) -> dict[str, Any]:
        response = await self.get("/search", who, q=q, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def found(self, who: dict[str, Any], q: str) -> list[str]:
        return [hit["title"] for hit in (await self.search(who, q, limit=50))["items"]]
