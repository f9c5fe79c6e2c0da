"""A steady mutation load over REST: every logical mutation has one id, reused on retry.

Each mutation is one `PATCH /tasks/{id}` (one TaskEdited event) carrying `X-Request-Id` (stored
as the event's correlation id) and `Idempotency-Key`, both the same fresh uuid. A retry after a
503 or a dropped connection reuses them, so the store must hold at most one event per id.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import httpx

from tests.reliability.stack import Stack, T


class Load:
    def __init__(
        self, stack: Stack, owner: dict[str, Any], tasks: list[str], rate: float = 20.0
    ) -> None:
        self.stack, self.owner, self.tasks, self.rate = stack, owner, tasks, rate
        self.statuses: Counter[int] = Counter()
        self.unreachable = 0
        self.succeeded: set[str] = set()
        self.attempted: set[str] = set()
        self.padding = ""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def burst(self, count: int, concurrency: int = 16) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(http: httpx.AsyncClient, n: int) -> None:
            async with gate:
                await self._mutate(http, n)

        async with httpx.AsyncClient(base_url=self.stack.api_url, timeout=2 * T) as http:
            await asyncio.gather(*(one(http, n) for n in range(count)))

    async def _run(self) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=self.stack.api_url, timeout=T) as http:
            while not self._stop.is_set():
                await self._mutate(http, n)
                n += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1 / self.rate):
                        await self._stop.wait()

    async def _mutate(self, http: httpx.AsyncClient, n: int) -> None:
        key = str(uuid.uuid4())
        task = self.tasks[n % len(self.tasks)]
        headers = {**self.owner["headers"], "X-Request-Id": key, "Idempotency-Key": key}
        body = {"title": f"edit {key[:8]}", "description": self.padding}
        self.attempted.add(key)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 6 * T
        while loop.time() < deadline:
            try:
                response = await http.patch(f"/tasks/{task}", json=body, headers=headers)
            except httpx.TransportError:
                self.unreachable += 1
                await asyncio.sleep(0.2)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code < 300:
                self.succeeded.add(key)
                return
            if response.status_code not in (409, 503):
                raise AssertionError(f"mutation answered {response.status_code}: {response.text}")
            await asyncio.sleep(0.1)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


async def seed(stack: Stack, projects: int = 2) -> tuple[dict[str, Any], list[str], list[str]]:
    """An owner (admin of the tenant), projects, and one task per project."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=2 * T) as http:
        signed = await http.post(
            "/auth/signup",
            json={
                "tenant_name": "Faults",
                "name": "Owner",
                "password": "correct horse",
                "email": f"owner-{uuid.uuid4().hex[:8]}@example.com",
            },
        )
        assert signed.status_code == 201, signed.text
        owner: dict[str, Any] = signed.json()
        owner["headers"] = {"Authorization": f"Bearer {owner['access_token']}"}
        pids, tids = [], []
        for i in range(projects):
            made = await http.post(
                "/projects", json={"name": f"P{i}", "budget_cents": 100}, headers=owner["headers"]
            )
            pids.append(made.json()["id"])
            task = await http.post(
                f"/projects/{pids[-1]}/tasks", json={"title": "T"}, headers=owner["headers"]
            )
            tids.append(task.json()["id"])
    return owner, pids, tids
