"""The REST side of a load test: the tenant, users and projects it needs, and the mutation driver.

Every mutation is `POST /projects/{id}/tasks` (TaskCreated): one event on one project channel,
on a fresh stream, so the driver never loses an optimistic-concurrency race however hot the
project is, and each reply's `position` is exactly one event to expect on that channel.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "load-test-password"
SETUP_CONCURRENCY = 8
MAX_IN_FLIGHT = 64


class SetupError(Exception):
    """The API refused a request the load test needs before it can start."""


@dataclass(slots=True)
class Fixture:
    owner_headers: dict[str, str]
    tenant: str
    projects: list[str]
    tokens: dict[int, str]


async def _ok(reply: httpx.Response, what: str) -> dict[str, Any]:
    if reply.status_code >= 300:
        raise SetupError(f"{what}: HTTP {reply.status_code} {reply.text[:200]}")
    body: dict[str, Any] = reply.json()
    return body


async def _bounded(coros: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def build_fixture(
    http: httpx.AsyncClient, users: int, projects: int, pairs: set[tuple[int, int]]
) -> Fixture:
    """Sign up a tenant, invite members, create projects, add the (user, project) pairs."""
    tag = uuid.uuid4().hex[:8]
    owner = await _ok(
        await http.post(
            "/auth/signup",
            json={
                "tenant_name": f"load-{tag}",
                "name": "Load owner",
                "email": f"owner-{tag}@load.test",
                "password": PASSWORD,
            },
        ),
        "sign-up",
    )
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    # Users count against the plan too: more than MEMBER_LIMIT needs it raised on the API
    # (the cluster launcher does), or the tenant moved to a larger plan (PUT /tenant/plan).
    emails = [f"user{i}-{tag}@load.test" for i in range(users)]
    invited = await _bounded(
        [
            http.post(
                "/users",
                headers=headers,
                json={"email": e, "name": f"Load user {i}", "role": "member", "password": PASSWORD},
            )
            for i, e in enumerate(emails)
        ]
    )
    user_ids = [(await _ok(r, "invite"))["id"] for r in invited]
    logins = await _bounded(
        [http.post("/auth/login", json={"email": e, "password": PASSWORD}) for e in emails]
    )
    tokens = {i: (await _ok(r, "login"))["access_token"] for i, r in enumerate(logins)}
    # Projects count against the tenant's plan: the tenant stream serialises them, so one by one.
    # (A run with more projects than the plan allows needs PROJECT_LIMIT raised on the API.)
    project_ids = []
    for p in range(projects):
        reply = await http.post("/projects", headers=headers, json={"name": f"load {tag} #{p}"})
        project_ids.append((await _ok(reply, "create project"))["id"])
    # One project is one stream: its members are added one after another (no lost races).
    by_project: dict[int, list[int]] = {}
    for u, p in sorted(pairs):
        by_project.setdefault(p, []).append(u)

    async def add_members(p: int, users_of: list[int]) -> None:
        for u in users_of:
            await _ok(
                await http.post(
                    f"/projects/{project_ids[p]}/members",
                    headers=headers,
                    json={"user_id": user_ids[u]},
                ),
                "add member",
            )

    await _bounded([add_members(p, us) for p, us in by_project.items()])
    return Fixture(headers, owner["tenant_id"], project_ids, tokens)


@dataclass(slots=True)
class DriveResult:
    positions: dict[int, list[int]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    started_at: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return sum(len(p) for p in self.positions.values())


class Driver:
    """Creates tasks at a fixed rate (or as fast as MAX_IN_FLIGHT requests allow when rate=0)."""

    def __init__(
        self, http: httpx.AsyncClient, fixture: Fixture, rate: float, duration_s: float
    ) -> None:
        self.http = http
        self.fixture = fixture
        self.rate = rate
        self.duration_s = duration_s
        self.result = DriveResult()
        self.gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(self, index: int) -> None:
        project = index % len(self.fixture.projects)
        started = time.perf_counter()
        try:
            reply = await self.http.post(
                f"/projects/{self.fixture.projects[project]}/tasks",
                headers=self.fixture.owner_headers,
                json={"title": f"load task {index}"},
            )
            if reply.status_code >= 300:
                key = f"HTTP {reply.status_code}"
            else:
                self.result.positions.setdefault(project, []).append(reply.json()["position"])
                self.result.latencies.append(time.perf_counter() - started)
                return
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        self.result.errors[key] = self.result.errors.get(key, 0) + 1

    async def _send(self, index: int) -> None:
        try:
            await self.one(index)
        finally:
            self.gate.release()

    async def run(self) -> DriveResult:
        tasks: set[asyncio.Task[None]] = set()
        self.result.started_at = time.time()
        start = time.monotonic()
        deadline = start + self.duration_s
        limit = int(self.rate * self.duration_s) if self.rate > 0 else 10_000_000
        for index in range(limit):
            if self.rate > 0:
                delay = start + index / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            # When MAX_IN_FLIGHT requests are pending the API is the limit: the rate falls behind.
            await self.gate.acquire()
            if time.monotonic() >= deadline:
                self.gate.release()
                break
            self.result.sent += 1
            task = asyncio.create_task(self._send(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        self.result.seconds = time.monotonic() - start
        return self.result
